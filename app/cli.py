"""`laddnat`: run the system or its halves, migrate, seed, manage chargers, companies and users, simulate."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable

from app.core.bus import BusUnavailable
from app.core.errors import DomainError
from app.core.event_loop import run_role
from app.core.logging import configure_logging
from app.core.settings import Settings, SettingsError


def _settings(*, dev: bool) -> Settings:
    """The settings from LADDNAT_*, with the password hashing cost they give applied."""
    from app.core.security import configure_password_hashing

    try:
        settings = Settings.from_env(dev=dev)
    except SettingsError as err:
        print(f"laddnat: configuration error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_password_hashing(settings.auth)
    return settings


async def _with_db(settings: Settings, fn: Callable[..., Awaitable[int]]) -> int:
    from app.core.bus import InProcessBus
    from app.core.database import create_engine, create_sessionmaker
    from app.core.migrate import upgrade

    await upgrade(settings.db)
    engine = create_engine(settings.db)
    try:
        return await fn(create_sessionmaker(engine), InProcessBus())
    finally:
        await engine.dispose()


def cmd_run(args: argparse.Namespace) -> int:
    from app.runner import run_all

    settings = _settings(dev=True)
    configure_logging(settings.log_level)
    run_role(run_all(settings, seed=not args.no_seed, demo_payments=not args.no_demo_payments), settings.event_loop)
    return 0


def _chosen_workers(args: argparse.Namespace) -> list[str]:
    from app.workers import WorkerKind

    return [kind.value for kind in WorkerKind if getattr(args, kind.value)]


def cmd_api(args: argparse.Namespace) -> int:
    from app.runner import run_api
    from app.workers import WorkerKind

    settings = _settings(dev=False)
    configure_logging(settings.log_level)
    run_role(run_api(settings, [WorkerKind(kind) for kind in _chosen_workers(args)]), settings.event_loop)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.runner import run_worker
    from app.workers import ALL_WORKERS, WorkerKind

    settings = _settings(dev=False)
    configure_logging(settings.log_level)
    chosen = [WorkerKind(kind) for kind in _chosen_workers(args)]
    run_role(run_worker(settings, chosen or ALL_WORKERS), settings.event_loop)
    return 0


WORKER_FLAGS = {
    "health": "fault detection, diagnosis and self-healing",
    "payments": "captures and releases, hold limits, the payment sweeper, receipts",
    "webhooks": "operator webhooks: queue and deliver",
    "mail": "the mail outbox",
    "roaming": "OCPI pushes, commands, session updates, CDRs",
}


def _add_worker_flags(parser: argparse.ArgumentParser, verb: str) -> None:
    for name, what in WORKER_FLAGS.items():
        parser.add_argument(f"--{name}", action="store_true", help=f"{verb} {what}")


def cmd_bridge(args: argparse.Namespace) -> int:
    from app.runner import run_bridge

    settings = _settings(dev=True)
    configure_logging(settings.log_level)
    run_role(run_bridge(settings), settings.event_loop)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.core.migrate import upgrade_sync

    settings = _settings(dev=True)
    upgrade_sync(settings.db)
    print(f"migrated {settings.db.url}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from app.demo import seed_demo

    async def seed(maker, bus) -> int:  # type: ignore[no-untyped-def]
        print("demo network seeded" if await seed_demo(maker, bus) else "demo network already there")
        return 0

    return asyncio.run(_with_db(_settings(dev=True), seed))


def cmd_chargers_add(args: argparse.Namespace) -> int:
    from app.chargers.service import ChargerService, LocationService
    from app.operators.tenants import TenantService

    async def add(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            # --tenant: the charger (and a location created for it) is that operator company's.
            tenant_id = (await TenantService(db).find(args.tenant)).id if args.tenant else None
            location_id = None
            if args.location:
                locations = LocationService(db, tenant_id=tenant_id)
                try:
                    location_id = (await locations.get(uuid.UUID(args.location))).id
                except ValueError:
                    found = await locations.find_by_name(args.location)
                    location_id = (found or await locations.create(name=args.location)).id
            cp = await ChargerService(db, bus, tenant_id=tenant_id).register(
                args.identity, args.password, location_id=location_id, evse_count=args.evses
            )
            print(f"registered {cp.identity} (id {cp.id})")
        return 0

    return asyncio.run(_with_db(_settings(dev=True), add))


def cmd_chargers_list(args: argparse.Namespace) -> int:
    from app.chargers.service import ChargerService

    async def show(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            chargers = await ChargerService(db, bus).list(limit=10_000)
        print(f"{'IDENTITY':<24} {'OCPP':<6} {'STATUS':<9} {'ONLINE':<6} {'VENDOR/MODEL':<28} LAST SEEN")
        for cp in chargers:
            vendor = f"{cp.vendor or '-'} {cp.model or ''}".strip()
            seen = cp.last_seen_at.isoformat(timespec="seconds") if cp.last_seen_at else "never"
            print(
                f"{cp.identity:<24} {cp.ocpp_version or '-':<6} {cp.registration_status:<9} "
                f"{'yes' if cp.connected else 'no':<6} {vendor:<28} {seen}"
            )
        return 0

    return asyncio.run(_with_db(_settings(dev=True), show))


def cmd_users_add(args: argparse.Namespace) -> int:
    from app.core.auth import TENANT_ROLES
    from app.drivers.service import UserService
    from app.operators.tenants import TenantService

    async def add(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            operator_id = None
            if args.tenant:
                operator_id = (await TenantService(db).find(args.tenant)).id
            elif args.role in TENANT_ROLES:
                print(f"laddnat: a {args.role} belongs to a company: give --tenant PARTY|ID", file=sys.stderr)
                return 2
            user = await UserService(db).create_user(args.email, args.password, args.role, operator_id)
            print(f"created {user.role} {user.email} (id {user.id})")
        return 0

    return asyncio.run(_with_db(_settings(dev=True), add))


def cmd_tenants_add(args: argparse.Namespace) -> int:
    from app.operators.tenants import TenantService

    async def add(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            operator, admin = await TenantService(db).create(
                name=args.name,
                country_code=args.country,
                party_id=args.party,
                admin_email=args.admin_email,
                admin_password=args.admin_password,
            )
            party = f"{operator.country_code}*{operator.party_id}"
            print(f"created {operator.name} {party} (id {operator.id}), admin {admin.email}")
        return 0

    return asyncio.run(_with_db(_settings(dev=True), add))


def cmd_tenants_list(args: argparse.Namespace) -> int:
    from app.operators.tenants import TenantService

    async def show(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            tenants = TenantService(db)
            rows, _ = await tenants.list(limit=10_000, offset=0)
            print(f"{'PARTY':<7} {'NAME':<32} {'ID':<36} ADMINS")
            for operator in rows:
                admins = ", ".join(u.email for u in await tenants.admins(operator.id)) or "-"
                party = f"{operator.country_code}*{operator.party_id}"
                print(f"{party:<7} {operator.name:<32} {operator.id!s:<36} {admins}")
        return 0

    return asyncio.run(_with_db(_settings(dev=True), show))


async def _ocpi_tenant(db, ref: str | None):  # type: ignore[no-untyped-def]
    """--tenant as TenantService.find reads it; without it the only company, else the demo's."""
    from sqlalchemy import select

    from app.demo import DEMO_OPERATOR_NAME
    from app.operators.models import Operator
    from app.operators.tenants import TenantService

    if ref:
        return await TenantService(db).find(ref)
    companies = list(await db.scalars(select(Operator).limit(2)))
    if len(companies) == 1:
        return companies[0]
    demo = await db.scalar(select(Operator).where(Operator.name == DEMO_OPERATOR_NAME))
    if demo is None:
        raise SystemExit("laddnat: several companies (or none): give --tenant ID|PARTY|COUNTRY*PARTY")
    return demo


def cmd_ocpi_issue_token(args: argparse.Namespace) -> int:
    from app.roaming.operator.service import PartnerService

    settings = _settings(dev=True)

    async def issue(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            tenant = await _ocpi_tenant(db, args.tenant)
            _, token = await PartnerService(db, settings, tenant_id=tenant.id).issue_token(args.name)
        # Only the token on stdout, so a script can capture it.
        print(token)
        return 0

    return asyncio.run(_with_db(settings, issue))


def cmd_ocpi_register(args: argparse.Namespace) -> int:
    from app.roaming.operator.service import PartnerService

    settings = _settings(dev=True)

    async def register(maker, bus) -> int:  # type: ignore[no-untyped-def]
        async with maker() as db:
            tenant = await _ocpi_tenant(db, args.tenant)
            partners = PartnerService(db, settings, tenant_id=tenant.id)
            partner = await partners.register_with(args.versions_url, args.token, name=args.name)
            print(f"registered with {partner.name} {partner.country_code}*{partner.party_id} (id {partner.id})")
        return 0

    return asyncio.run(_with_db(settings, register))


def cmd_simulate(args: argparse.Namespace) -> int:
    from devtools.simulator.cli import run_simulation

    return asyncio.run(run_simulation(args))


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.openapi_export import export

    export(args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_error_codes(args: argparse.Namespace) -> int:
    from app.error_codes import export

    export(args.output)
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="laddnat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="API + OCPP bridge + every worker + in-process bus, migrated and seeded")
    p.add_argument("--no-seed", action="store_true", help="do not seed the demo network")
    p.add_argument(
        "--no-demo-payments",
        action="store_true",
        help="without LADDNAT_STRIPE_*/ADYEN_* keys, do not start the local fake Stripe",
    )
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser(
        "api",
        help="the HTTP API alone",
        description="The HTTP API on LADDNAT_HTTP_HOST:PORT; no background workers unless flags name some.",
    )
    _add_worker_flags(p, "also run")
    p.set_defaults(fn=cmd_api)
    sub.add_parser("bridge", help="the OCPP bridge alone").set_defaults(fn=cmd_bridge)
    p = sub.add_parser(
        "worker",
        help="background workers without the public API",
        description=(
            "The chosen background workers (no flag: all of them) and their bus subscribers; "
            "/healthz, /readyz and /metrics on LADDNAT_WORKER_HTTP_HOST:LADDNAT_WORKER_HTTP_PORT "
            "(default 127.0.0.1:8100). Several copies may run at once."
        ),
    )
    _add_worker_flags(p, "run")
    p.set_defaults(fn=cmd_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser("seed-demo", help="seed the demo network").set_defaults(fn=cmd_seed_demo)

    chargers = sub.add_parser("chargers", help="register and list chargers").add_subparsers(
        dest="chargers_command", required=True
    )
    p = chargers.add_parser("add", help="register a charger")
    p.add_argument("identity")
    p.add_argument(
        "--password", required=True, help="HTTP Basic password: a random secret of 16-40 characters (docs/ocpp.md)"
    )
    p.add_argument("--location", help="location id or name (created if new)")
    p.add_argument("--evses", type=int, default=1, help="EVSEs to create now (default 1)")
    p.add_argument("--tenant", help="the owning company: its id, party id (LAD) or COUNTRY*PARTY (SE*LAD)")
    p.set_defaults(fn=cmd_chargers_add)
    chargers.add_parser("list", help="list chargers").set_defaults(fn=cmd_chargers_list)

    from app.core.auth import ROLES

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("add", help="create a user")
    p.add_argument("email")
    p.add_argument("--role", choices=sorted(ROLES), required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--tenant", help="the company of a staff user: its id, party id (LAD) or COUNTRY*PARTY (SE*LAD)")
    p.set_defaults(fn=cmd_users_add)

    tenants = sub.add_parser("tenants", help="operator companies").add_subparsers(dest="tenants_command", required=True)
    p = tenants.add_parser("add", help="create an operator company and its first admin")
    p.add_argument("name")
    p.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. SE")
    p.add_argument("--party", required=True, help="OCPI party id: 3 capital letters or digits")
    p.add_argument("--admin-email", required=True)
    p.add_argument("--admin-password", required=True)
    p.set_defaults(fn=cmd_tenants_add)
    tenants.add_parser("list", help="list operator companies").set_defaults(fn=cmd_tenants_list)

    tenant_help = "the company: its id, party id (LAD) or COUNTRY*PARTY (SE*LAD); default the only one, or the demo's"
    ocpi = sub.add_parser("ocpi", help="OCPI roaming partners").add_subparsers(dest="ocpi_command", required=True)
    p = ocpi.add_parser("issue-token", help="print a credentials token A for a partner to register with")
    p.add_argument("--tenant", help=tenant_help)
    p.add_argument("--name", help="what to call the partner until its credentials name it")
    p.set_defaults(fn=cmd_ocpi_issue_token)
    p = ocpi.add_parser("register", help="register with a partner, given its versions URL and token A")
    p.add_argument("--tenant", help=tenant_help)
    p.add_argument("--versions-url", required=True, help="the partner's OCPI versions endpoint")
    p.add_argument(
        "--token", required=True, help="the token A the partner gave us (write --token=A: a token may begin with -)"
    )
    p.add_argument("--name", help="what to call the partner (default: its business name)")
    p.set_defaults(fn=cmd_ocpi_register)

    p = sub.add_parser("simulate", help="run simulated chargers against an OCPP endpoint")
    from devtools.simulator.cli import add_cli_arguments

    add_cli_arguments(p)
    p.set_defaults(fn=cmd_simulate)

    p = sub.add_parser("openapi", help="export the OpenAPI document")
    p.add_argument("--output", default="openapi/openapi.json")
    p.set_defaults(fn=cmd_openapi)

    p = sub.add_parser("error-codes", help="write the table of error codes")
    p.add_argument("--output", default="docs/errors.md")
    p.set_defaults(fn=cmd_error_codes)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except DomainError as err:
        print(f"laddnat: {err.detail} ({err.code})", file=sys.stderr)
        return 1
    except BusUnavailable as err:  # NATS down at start: one line, not a traceback
        print(f"laddnat: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
