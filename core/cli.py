"""`flask sentra …`: operator commands."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from core.auth.passwords import hash_password
from core.db import utcnow
from core.extensions import db
from core.models import Membership
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant

#: Every later feature adds its demo data through this list of callables(tenants_by_slug).
DEMO_EXTENSIONS: list = []

DEMO_PASSWORD = "sentra-demo-2026"


@click.group()
def sentra():
    """Sentra operator commands."""


def _user(email: str, name: str, password: str, role: PlatformRole | None = None) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        user = User(
            email=email,
            name=name,
            password_hash=hash_password(password),
            email_verified_at=utcnow(),
            platform_role=role,
            locale="en",
        )
        db.session.add(user)
        db.session.flush()
    return user


@sentra.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if any tenant exists already.")
@with_appcontext
def seed_demo(if_empty: bool) -> None:
    """Create demo tenants and users (never in production)."""
    if current_app.config["SENTRA_ENV"] == "production":
        raise click.ClickException("seed-demo refuses to run in production.")
    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Tenant)):
        click.echo("Demo data already present; nothing to do.")
        return
    users = []
    tenants = {}
    for slug, name, kind in (
        ("demo-clinic", "Klinik Sehat Sentosa", TenantKind.CLINIC),
        ("demo-company", "PT Maju Bersama", TenantKind.COMPANY),
    ):
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            tenant = Tenant(
                slug=slug,
                name=name,
                kind=kind,
                status=TenantStatus.ACTIVE,
                province="DKI Jakarta",
                city="Jakarta Selatan",
            )
            db.session.add(tenant)
            db.session.flush()
        tenants[slug] = tenant
        for role in (Role.OWNER, Role.CHECKIN):
            email = f"{role.value}@{slug}.example"
            user = _user(email, f"{name} {role.value}", DEMO_PASSWORD)
            if db.session.get(Membership, (tenant.id, user.id)) is None:
                db.session.add(Membership(tenant=tenant, user=user, role=role))
            users.append((email, f"{role.value} of {slug}"))
    for email, name, role in (
        ("reviewer@ministry.example", "Ministry Reviewer", PlatformRole.REVIEWER),
        ("admin@sentra.example", "Platform Admin", PlatformRole.PLATFORM_ADMIN),
    ):
        _user(email, name, DEMO_PASSWORD, role)
        users.append((email, role.value))
    with cross_tenant(Scope.PLATFORM):
        for extend in DEMO_EXTENSIONS:
            extend(tenants)
    db.session.commit()
    click.echo(f"Demo users (password for all: {DEMO_PASSWORD}):")
    for email, what in users:
        click.echo(f"  {email:32} {what}")


@sentra.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option(
    "--role",
    type=click.Choice([r.value for r in PlatformRole]),
    default=PlatformRole.PLATFORM_ADMIN.value,
    show_default=True,
)
@click.password_option()
@with_appcontext
def create_admin(email: str, name: str, role: str, password: str) -> None:
    """Create a platform admin or ministry reviewer (they set up two-factor at first sign-in)."""
    email = email.strip().lower()
    if db.session.scalar(sa.select(User).where(User.email == email)):
        raise click.ClickException(f"A user with the email {email} exists already.")
    if len(password) < 12:
        raise click.ClickException("Use a password of at least 12 characters.")
    db.session.add(
        User(
            email=email,
            name=name,
            password_hash=hash_password(password),
            email_verified_at=utcnow(),
            platform_role=PlatformRole(role),
        )
    )
    db.session.commit()
    click.echo(f"Created {role} {email}.")


@sentra.command("reset-two-factor")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def reset_two_factor(email: str, yes: bool) -> None:
    """Clear the TOTP secret and recovery codes of a person who lost both.

    Check who is asking first (as you would for any account recovery): this lets
    anyone with the password sign in without a second factor, or enrol a new one.
    """
    from core.auth import services

    user = services.find_user(email)
    if user is None:
        raise click.ClickException(f"No user with the email {email.strip().lower()}.")
    if not yes:
        click.confirm(f"Reset two-factor sign-in of {user.email} ({user.name})?", abort=True)
    deleted = services.reset_two_factor(user)
    db.session.commit()
    click.echo(
        f"Two-factor sign-in of {user.email} is reset: TOTP secret and {deleted} recovery "
        "code(s) deleted, every session signed out, the person told by email."
    )
    if user.needs_totp:
        click.echo(
            f"Their role ({user.platform_role.value}) requires two-factor sign-in: they will "
            "set up an authenticator app again at their next sign-in."
        )
    else:
        click.echo("They now sign in with the password alone until they turn two-factor on again.")


@sentra.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.argument("queues", nargs=-1)
@with_appcontext
def worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run an rq worker (with rq's scheduler for retries) for this app's queues."""
    from rq import Worker

    from core.jobs import get_queue
    from core.jobs import queue_name
    from core.jobs import set_worker_app

    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker needed.")
    set_worker_app(app)
    qs = [get_queue(app, name) for name in (queues or (queue_name(app),))]
    Worker(qs, connection=qs[0].connection).work(burst=burst, with_scheduler=True)


@sentra.command("scheduler")
@click.option("--once", is_flag=True, help="Enqueue what is due now, then exit.")
@with_appcontext
def scheduler_command(once: bool) -> None:
    """Enqueue the periodic jobs (core.jobs.PERIODIC) when they are due; run one only."""
    import signal
    import threading

    from core.jobs import PERIODIC
    from core.jobs import Scheduler

    app = current_app._get_current_object()
    scheduler = Scheduler(app)
    if once:
        for job_id, outcome in scheduler.tick():
            click.echo(f"{job_id}: {outcome}")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    names = ", ".join(f"{j.name} every {j.interval}s" for j in PERIODIC)
    where = "to Redis" if app.config.get("REDIS_URL") else "in-process (no REDIS_URL)"
    click.echo(f"Scheduler running {where}: {names}")
    scheduler.run(stop)
    click.echo("Scheduler stopped.")


@sentra.command("sweep-outbox")
@with_appcontext
def sweep_outbox_command() -> None:
    """Re-enqueue outbox messages that are due (the scheduler runs this every minute)."""
    from core.mail import sweep_outbox

    with cross_tenant(Scope.SYSTEM):
        count = sweep_outbox()
        db.session.commit()
    click.echo(f"Re-enqueued {count} message(s).")
