"""Gunicorn settings for Sentra's web process (`web` in platform/Procfile).

Every value can be set from the environment, so one image serves any machine:

  BIND / PORT        where to listen (default 0.0.0.0:8000; PORT alone keeps 0.0.0.0)
  WEB_CONCURRENCY    worker processes (default: 2 x usable cores + 1)
  GUNICORN_THREADS   threads per worker (default 1; more than 1 switches to gthread)
  GUNICORN_TIMEOUT   seconds a request may run before its worker is replaced (default 30)
  FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-* headers are trusted (default 127.0.0.1)

Web processes keep no state of their own (sessions are signed cookies, rate limits
and jobs live in Redis, files in S3), so scaling out is adding processes or machines.
"""

import os


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours CPU pinning (taskset, cgroups cpusets)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


bind = os.environ.get("BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cores() + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"

# A request that runs longer than this is killed and its worker replaced: requests do
# short transactions only; exports and emails are jobs.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (deploy, scale-in) workers finish the requests in flight for this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak can never take a node down.
max_requests = 2000
max_requests_jitter = 200

# preload_app stays False on purpose. Preloading imports the app once in the master and
# forks it: anything opened during import would then be shared by every worker, and a
# SQLAlchemy connection pool, a psycopg connection or a Redis socket shared across fork()
# corrupts silently. create_app() opens nothing today, but that must not become a
# load-bearing detail. Without preloading each worker builds its own app and engine, and
# `kill -HUP` on the master reloads new code with no downtime.
preload_app = False

# The proxy in front (load balancer, nginx) sets X-Forwarded-For/Proto. gunicorn uses
# this only for the scheme; the client's address (rate limits, audit) is the app's
# TRUSTED_PROXY_COUNT setting (werkzeug's ProxyFix in core/app.py).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Logs to stdout/stderr, one line per request, JSON-shaped so log shippers can parse it.
# The request id is the one the app answers with (X-Request-ID), so an access line
# joins the app's own structured log lines. Values are not JSON-escaped by gunicorn;
# a user agent with a double quote makes that line invalid JSON ("JSON-ish").
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = (
    '{"ts": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"query": "%(q)s", "status": %(s)s, "bytes": %(B)s, "duration_us": %(D)s, '
    '"request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)

# Heartbeat files on tmpfs (gunicorn's advice for containers): a worker blocked on a slow
# disk is not mistaken for a hung one. Not a temporary file of ours.
_SHM = "/dev/shm"  # noqa: S108
if os.path.isdir(_SHM):
    worker_tmp_dir = _SHM
