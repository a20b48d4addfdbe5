#!/usr/bin/env bash
# Lighthouse (mobile profile) against a running Sentra, with Debian's chromium.
#
#   make run                      # in another terminal: the demo on 127.0.0.1:5000
#   bash tests/load/lighthouse.sh                                  # the demo booking page
#   bash tests/load/lighthouse.sh http://127.0.0.1:5000/b/demo-clinic/<campaign>
#
# Installs the pinned Lighthouse from the npm registry into .cache/lighthouse on first
# use (Node.js 18+ and npm needed; no browser is downloaded: CHROME_PATH points at
# /usr/bin/chromium). Prints each category's score and exits 1 when accessibility or
# performance is below 95 (the issue's bar). The full JSON report is kept beside it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LIGHTHOUSE_VERSION=12.8.2
url=${1:-http://127.0.0.1:5000/b/demo-clinic}
cache=.cache/lighthouse
report=$cache/report.json

if [ ! -x "$cache/node_modules/.bin/lighthouse" ]; then
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-audit --no-fund --silent "lighthouse@$LIGHTHOUSE_VERSION"
fi

CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium} "$cache/node_modules/.bin/lighthouse" "$url" \
    --quiet --form-factor=mobile --only-categories=performance,accessibility,best-practices \
    --chrome-flags="--headless=new --no-sandbox --disable-background-networking" \
    --output=json --output-path="$report"

python3 - "$report" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
print(report["finalDisplayedUrl"])
scores = {key: round(cat["score"] * 100) for key, cat in report["categories"].items()}
for key, score in scores.items():
    print(f"  {key:16} {score}")
for audit in report["audits"].values():
    if audit.get("score") is not None and audit["score"] < 1 and audit.get("scoreDisplayMode") == "binary":
        print(f"  failed audit: {audit['id']}: {audit['title']}")
low = [k for k in ("accessibility", "performance") if scores.get(k, 0) < 95]
sys.exit(f"below 95: {', '.join(low)}" if low else 0)
PY
