"""Settings: read from the environment once, with embedded defaults, validated at start.

Every setting has a default that lets `make run` work on a bare machine (SQLite in
`instance/`, jobs in-process, files on local disk, mail written to
`instance/outbox/`). Production (``SENTRA_ENV=production``) refuses to start
without the settings that have no safe default.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse


class ConfigError(RuntimeError):
    """The configuration cannot work; the message lists every problem found."""


ENVIRONMENTS = ("development", "testing", "production")


def _secret_key_from_instance(instance_path: Path) -> str:
    """Return the development secret key kept in `instance/`, creating it on first run.

    Sessions survive a restart of `make run` without anyone choosing a key.
    """
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def from_env(instance_path: Path, environ: os._Environ | dict | None = None) -> dict:
    """Build the settings mapping from environment variables and embedded defaults."""
    env = os.environ if environ is None else environ
    sentra_env = env.get("SENTRA_ENV", "development")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'sentra.db'}"
    settings = {
        "SENTRA_ENV": sentra_env,
        "SECRET_KEY": env.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": _sqlalchemy_url(database_url),
        # Migrations run as the owner role; the app role owns nothing (RLS binds it).
        "MIGRATION_DATABASE_URL": _sqlalchemy_url(
            env.get("MIGRATION_DATABASE_URL") or database_url
        ),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "STORAGE_URL": env.get("STORAGE_URL") or f"file://{instance_path / 'files'}",
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL") or None,
        "MAIL_URL": env.get("MAIL_URL") or f"file://{instance_path / 'outbox'}",
        "MAIL_FROM": env.get("MAIL_FROM", "Sentra <no-reply@sentra.local>"),
        "BASE_URL": env.get("BASE_URL", "http://127.0.0.1:5000"),
        # Keys for data encrypted at rest (TOTP secrets, later NIKs): "id:base64,id:base64";
        # the first one encrypts, every one decrypts, so keys can be rotated.
        "DATA_KEYS": env.get("DATA_KEYS") or None,
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # How many proxies (load balancer, nginx) stand in front of the web process and
        # append to X-Forwarded-For. 0 trusts none of those headers; behind one load
        # balancer set 1, or every visitor has the balancer's address and shares one
        # per-address rate limit. Never more than there are: a client could then choose
        # its own address.
        "TRUSTED_PROXY_COUNT": int(env.get("TRUSTED_PROXY_COUNT", "0")),
        # Billing (tenants.billing): off without a Stripe key, every tenant on an unlimited trial.
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        "STRIPE_PRICE_CLINIC": env.get("STRIPE_PRICE_CLINIC") or None,
        "STRIPE_PRICE_ENTERPRISE": env.get("STRIPE_PRICE_ENTERPRISE") or None,
        "BILLING_GRACE_DAYS": int(env.get("BILLING_GRACE_DAYS", "7")),
        # The public booking page's confirmation (tenants.public): limits per address, per
        # NIK and per phone (flask-limiter syntax), and the least time a person takes to
        # fill in their details. A load generator on one address raises the first.
        "PUBLIC_BOOKING_RATE_PER_IP": env.get("PUBLIC_BOOKING_RATE_PER_IP", "30/minute"),
        "PUBLIC_BOOKING_RATE_PER_NIK": env.get("PUBLIC_BOOKING_RATE_PER_NIK", "5/hour"),
        "PUBLIC_BOOKING_RATE_PER_PHONE": env.get("PUBLIC_BOOKING_RATE_PER_PHONE", "10/hour"),
        "PUBLIC_BOOKING_MIN_FILL_SECONDS": float(env.get("PUBLIC_BOOKING_MIN_FILL_SECONDS", "3")),
        # PostgreSQL memory for one export's sorts and joins (its transaction only), so a
        # period's rows sort in memory rather than on disk. Lower it on a small database
        # server that runs several exports at once.
        "EXPORT_WORK_MEM": env.get("EXPORT_WORK_MEM", "256MB"),
    }
    if not settings["SECRET_KEY"] and sentra_env != "production":
        settings["SECRET_KEY"] = _secret_key_from_instance(instance_path)
    return settings


def _sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def flask_defaults(settings: dict) -> dict:
    """Flask and extension settings derived from Sentra's own."""
    production = settings["SENTRA_ENV"] == "production"
    return {
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_NAME": "__Host-sentra" if production else "sentra",
        "SESSION_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 12,
        "WTF_CSRF_TIME_LIMIT": 3600,
        "WTF_CSRF_SSL_STRICT": production,
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_HEADERS_ENABLED": True,
        "BABEL_DEFAULT_LOCALE": "id",
        "BABEL_SUPPORTED_LOCALES": ["id", "en"],
        # Compiled from the .po files by the Makefile (docs/translations.md).
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parent / "translations"),
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
    }


def validate(config: dict) -> None:
    """Raise ConfigError naming every setting that cannot work, so start-up fails clearly."""
    problems = []
    env = config.get("SENTRA_ENV")
    if env not in ENVIRONMENTS:
        problems.append(f"SENTRA_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    if not config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is required in production (a long random string).")
    elif env == "production" and len(config["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY must be at least 32 characters in production.")
    if config.get("TRUSTED_PROXY_COUNT", 0) < 0:
        problems.append("TRUSTED_PROXY_COUNT is a number of proxies, 0 or more.")
    db_scheme = urlparse(config.get("SQLALCHEMY_DATABASE_URI", "")).scheme.split("+")[0]
    if db_scheme not in ("sqlite", "postgresql"):
        problems.append("DATABASE_URL must be a postgresql:// or sqlite:/// URL.")
    if env == "production" and db_scheme != "postgresql":
        problems.append("DATABASE_URL must point at PostgreSQL in production.")
    redis_url = config.get("REDIS_URL")
    if redis_url and urlparse(redis_url).scheme not in ("redis", "rediss", "unix"):
        problems.append("REDIS_URL must be a redis://, rediss:// or unix:// URL.")
    storage = urlparse(config.get("STORAGE_URL", ""))
    if storage.scheme not in ("file", "s3"):
        problems.append("STORAGE_URL must be file:///path or s3://bucket.")
    elif storage.scheme == "s3" and not storage.netloc:
        problems.append("STORAGE_URL s3:// needs a bucket name, e.g. s3://sentra-files.")
    mail = urlparse(config.get("MAIL_URL", ""))
    if mail.scheme not in ("file", "smtp", "smtps"):
        problems.append("MAIL_URL must be file:///path, smtp://host:port or smtps://host:port.")
    if env == "production":
        if not config.get("DATA_KEYS"):
            problems.append("DATA_KEYS is required in production (see docs/architecture.md).")
        if not config.get("REDIS_URL"):
            problems.append("REDIS_URL is required in production (jobs and rate limits).")
    if config.get("DATA_KEYS"):
        from core.crypto import parse_keys

        try:
            parse_keys(config["DATA_KEYS"])
        except ValueError as exc:
            problems.append(f"DATA_KEYS: {exc}")
    if config.get("STRIPE_SECRET_KEY") and not config.get("STRIPE_WEBHOOK_SECRET"):
        problems.append("STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set.")
    if problems:
        raise ConfigError("Sentra cannot start:\n  - " + "\n  - ".join(problems))
