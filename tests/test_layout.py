"""The layout of the design card, guarded: what would break silently if it drifted.

- ``platform/`` holds deployment files and must never become a Python package: a
  top-level package named ``platform`` shadows the standard library's module and
  breaks ``import uuid``, and with it Flask, SQLAlchemy and pytest.
- Packaging finds packages only under the three code roots, and every directory of
  Python files there is a package, so a built distribution lacks none of them and
  never picks up ``platform/``.
- Dependencies point one way: tenants → onboarding → core.
- ``wsgi.py`` only creates the app.
- The files in ``platform/`` are consistent with the code (no container runtime runs
  here, so their shape is what can be checked; the gunicorn config is run for real).
"""

from __future__ import annotations

import ast
import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml  # PyYAML: installed with the dev extra (moto → responses → PyYAML)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = ("core", "onboarding", "tenants")
#: which top-level package may import which (the direction of dependencies)
FORBIDDEN_IMPORTS = {
    "core": {"onboarding", "tenants"},
    "onboarding": {"tenants"},
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


# --- platform/ is not a package, and `platform` is the standard library ------------------


def test_platform_folder_is_not_a_python_package():
    assert (ROOT / "platform").is_dir()
    assert not (ROOT / "platform" / "__init__.py").exists(), (
        "platform/__init__.py would shadow the standard library's platform module"
    )


def _is_stdlib(path: str) -> bool:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    return Path(path).resolve().is_relative_to(stdlib)


def test_import_platform_gives_the_standard_library():
    import platform

    assert _is_stdlib(platform.__file__), platform.__file__
    # The same from the repository root with it first on sys.path, as `flask run`,
    # gunicorn and `python -m pytest` start: the place where shadowing would happen.
    out = subprocess.run(
        [sys.executable, "-c", "import platform, uuid; print(platform.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert _is_stdlib(out), out


def test_no_top_level_name_of_ours_is_a_standard_library_module():
    ours = {name.split(".")[0] for name in _distributed_packages()}
    for entry in ROOT.iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            ours.add(entry.name)
        elif entry.suffix == ".py":
            ours.add(entry.stem)
    assert {"core", "onboarding", "tenants", "tests", "wsgi"} <= ours
    clashes = ours & set(sys.stdlib_module_names)
    assert not clashes, f"these names shadow the standard library: {sorted(clashes)}"


# --- packaging ---------------------------------------------------------------------------


def _distributed_packages() -> set[str]:
    """The packages a build would ship, found the way setuptools finds them."""
    import setuptools

    find = _pyproject()["tool"]["setuptools"]["packages"]["find"]
    return set(setuptools.find_packages(where=str(ROOT), include=find["include"]))


def test_the_build_ships_every_package_and_nothing_else():
    on_disk = set()
    for root in PACKAGE_ROOTS:
        for directory in [ROOT / root, *(p for p in (ROOT / root).rglob("*") if p.is_dir())]:
            if "__pycache__" in directory.parts:
                continue
            has_code = any(directory.glob("*.py"))
            is_package = (directory / "__init__.py").exists()
            rel = directory.relative_to(ROOT)
            assert is_package or not has_code, f"{rel} has Python files but no __init__.py"
            if is_package:
                on_disk.add(".".join(rel.parts))
    assert _distributed_packages() == on_disk
    assert set(PACKAGE_ROOTS) <= on_disk


# --- dependency direction ----------------------------------------------------------------


def imported_top_level_names(source: str) -> set[str]:
    """Top-level packages a module imports (absolute imports; relative ones stay inside)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_import_parser_sees_every_kind_of_import():
    source = (
        "import tenants.booking\n"
        "from onboarding.venues import models\n"
        "def f():\n"
        "    from tenants import x\n"
        "if True:\n"
        "    import json as j\n"
        "from . import sibling\n"
    )
    assert imported_top_level_names(source) == {"tenants", "onboarding", "json"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_dependencies_point_one_way(package):
    offenders = []
    for path in _python_files(package):
        bad = imported_top_level_names(path.read_text()) & FORBIDDEN_IMPORTS[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert _python_files(package), f"no Python files found under {package}/"
    assert not offenders, (
        f"{package} must not import {sorted(FORBIDDEN_IMPORTS[package])} "
        "(use the lists in core/app.py or a signal in core/signals.py):\n" + "\n".join(offenders)
    )


def test_wsgi_only_creates_the_app():
    tree = ast.parse((ROOT / "wsgi.py").read_text())
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # a docstring is allowed
    assert [ast.dump(node) for node in body] == [
        ast.dump(node)
        for node in ast.parse("from core.app import create_app\napp = create_app()").body
    ], "wsgi.py must be exactly: from core.app import create_app; app = create_app()"


# --- platform/ files ---------------------------------------------------------------------


def _procfile() -> dict[str, str]:
    processes = {}
    for line in (ROOT / "platform" / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, command = line.partition(":")
            assert sep and re.fullmatch(r"[a-z]+", name), f"bad Procfile line: {line!r}"
            processes[name] = command.strip()
    return processes


def test_procfile_defines_every_process():
    processes = _procfile()
    assert set(processes) == {"web", "worker", "scheduler", "release"}
    assert processes["web"] == "gunicorn wsgi:app -c platform/gunicorn.conf.py"
    assert processes["release"] == "flask --app wsgi db upgrade"
    for name in ("worker", "scheduler"):
        assert processes[name] == f"flask --app wsgi sentra {name}"


def test_procfile_commands_exist():
    from flask_migrate.cli import db as db_group

    from core.cli import sentra

    groups = {"sentra": sentra, "db": db_group}
    for name, command in _procfile().items():
        if command.startswith("flask "):
            words = command.split()
            group, sub = words[words.index("wsgi") + 1 : words.index("wsgi") + 3]
            assert sub in groups[group].commands, f"{name}: no `flask {group} {sub}` command"


def test_gunicorn_config_reads_the_environment(monkeypatch):
    path = str(ROOT / "platform" / "gunicorn.conf.py")
    for var in ("BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(var, raising=False)
    defaults = runpy.run_path(path)
    assert defaults["bind"] == "0.0.0.0:8000"
    assert defaults["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert defaults["preload_app"] is False
    assert defaults["graceful_timeout"] > 0 and defaults["timeout"] > 0
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert runpy.run_path(path)["bind"] == "0.0.0.0:9123"
    assert runpy.run_path(path)["workers"] == 3
    monkeypatch.setenv("BIND", "127.0.0.1:7000")
    assert runpy.run_path(path)["bind"] == "127.0.0.1:7000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_web_process_serves_and_stops_gracefully(tmp_path):
    """The Procfile's web command, for real: gunicorn with our config serves the app,
    logs one JSON-shaped access line carrying the request id, and exits cleanly on TERM."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "MAIL_URL", "STORAGE_URL")
    }
    env.update(
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        SENTRA_INSTANCE_PATH=str(tmp_path),
        LOG_LEVEL="WARNING",
    )
    command = _procfile()["web"].split()
    proc = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                    assert r.status == 200
                    assert json.loads(r.read()) == {"status": "ok"}
                    request_id = r.headers["X-Request-ID"]
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    # One JSON object per access line; ours is found by the request id it answered with.
    access = [json.loads(line) for line in stdout.splitlines() if '"path": "/healthz"' in line]
    ours = [line for line in access if line["request_id"] == request_id]
    assert len(ours) == 1, stdout
    assert ours[0]["status"] == 200 and ours[0]["method"] == "GET"
    assert ours[0]["duration_us"] > 0


def _compose() -> dict:
    return yaml.safe_load((ROOT / "platform" / "compose.yaml").read_text())


def test_compose_file_wires_the_real_parts():
    compose = _compose()
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert {"s3", "mailpit", "release", "web", "worker", "scheduler"} <= set(services)
    procfile = _procfile()
    for name in ("web", "worker", "scheduler", "release"):
        service = services[name]
        assert service["build"]["dockerfile"] == "platform/Containerfile"
        assert (ROOT / "platform" / service["build"]["context"]).resolve() == ROOT
        assert " ".join(service["command"]) == procfile[name], name
        env = service["environment"]
        # The processes connect as the app role; only migrations use the owner.
        assert env["DATABASE_URL"].startswith("postgresql://sentra_web:"), name
        assert env["MIGRATION_DATABASE_URL"].startswith("postgresql://sentra_owner:"), name
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["STORAGE_URL"].startswith("s3://") and env["S3_ENDPOINT_URL"]
        assert env["MAIL_URL"].startswith("smtp://mailpit:")
    for name in ("web", "worker", "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["release"]["condition"] == "service_completed_successfully", name


def test_compose_database_init_makes_the_roles_the_app_expects():
    from core.rls import APP_ROLE

    postgres = _compose()["services"]["postgres"]
    mounts = [v.split(":") for v in postgres["volumes"] if v.startswith("./")]
    assert mounts, "the init SQL is not mounted"
    for source, target, *_ in mounts:
        assert (ROOT / "platform" / source).is_file(), source
        assert target.startswith("/docker-entrypoint-initdb.d/")
    sql = (ROOT / "platform" / "postgres" / "init.sql").read_text()
    assert re.search(rf"CREATE ROLE sentra_web LOGIN .*?\bIN ROLE {APP_ROLE}\b", sql, re.S)
    assert re.search(rf"CREATE ROLE {APP_ROLE} NOLOGIN .*?NOBYPASSRLS", sql)
    for statement in re.findall(r"CREATE ROLE [^;]*", sql):
        assert not re.search(r"(?<!NO)(SUPERUSER|BYPASSRLS)\b", statement), statement


def test_containerfile_copies_every_package():
    text = (ROOT / "platform" / "Containerfile").read_text()
    copied = set()
    for line in text.splitlines():
        if line.startswith("COPY "):
            copied.update(Path(part).name for part in line.split()[1:-1])
    top_level = {p.split(".")[0] for p in _distributed_packages()}
    needed = top_level | {"migrations", "platform", "wsgi.py", "pyproject.toml"}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"
    for name in copied:
        assert (ROOT / name).exists(), f"Containerfile copies {name}, which does not exist"


# --- README ------------------------------------------------------------------------------


def test_readme_opens_with_the_two_commands_and_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    settings = set(
        re.findall(r"env\.get\(\s*\"([A-Z0-9_]+)\"", (ROOT / "core/config.py").read_text())
    )
    settings |= set(
        re.findall(r"environ\.get\(\"([A-Z0-9_]+)\"", (ROOT / "core/app.py").read_text())
    )
    assert {"DATABASE_URL", "SECRET_KEY", "SENTRA_INSTANCE_PATH"} <= settings
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, re.M))
    missing = settings - documented
    assert not missing, f"add to the settings table in README.md: {sorted(missing)}"
    stale = documented - settings
    assert not stale, f"README.md documents settings the code no longer reads: {sorted(stale)}"
