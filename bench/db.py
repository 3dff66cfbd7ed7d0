"""Bench databases: create, migrate, register the chargers in bulk, add the operator, drop.

Registering 19,000 chargers through ``ChargerService.register`` would take a transaction
each; the bench hashes each password with the project's own function (microseconds) and
inserts the rows with SQLAlchemy Core. The one operator user (who sends the commands)
goes through ``UserService`` like any other. ``set_credentials`` rewrites the chargers'
stored hashes (the first-contact phase's argon2id baseline) and boot configuration.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Table, bindparam, func, insert, select, update

from app.chargers.models import ChargePoint, Connector, Evse, Location
from app.core.database import Base, Counter, create_engine, create_sessionmaker, utcnow
from app.core.migrate import upgrade_sync
from app.core.security import CHARGER_HASH_PREFIX, hash_charger_password
from app.core.settings import DatabaseSettings
from app.drivers.models import IdToken
from app.drivers.service import UserService
from app.operators.models import Operator
from bench.loadgen import ID_TAG

BATCH = 2000
# The one operator company (tenant) that owns every bench site and charger.
BENCH_OPERATOR_ID = uuid.UUID("00000000-0000-4000-8000-00000000be9c")


@dataclass(frozen=True)
class BenchCharger:
    number: int
    identity: str
    version: str  # websocket subprotocol
    location_id: uuid.UUID | None = None  # bench/health/ places its chargers on sites
    max_kw: float = 22.0  # the connector's rating
    phases: int = 3


@dataclass(frozen=True)
class BenchSite:
    id: uuid.UUID
    name: str


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    if database is not None:
        parts = parts._replace(path=f"/{database}")
    return urlunsplit(parts)


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def _pg_execute(admin_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=5)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def pg_reachable(admin_url: str) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        asyncio.run(_pg_execute(admin_url, "SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pg_create(admin_url: str, name: str) -> str:
    asyncio.run(_pg_execute(admin_url, f'CREATE DATABASE "{name}"'))
    return with_database(admin_url, name)


def pg_drop(admin_url: str, name: str) -> None:
    asyncio.run(_pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(url: str) -> None:
    upgrade_sync(DatabaseSettings(url=url))


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _chunks(rows: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


async def _register(
    url: str,
    chargers: Sequence[BenchCharger],
    password: str,
    sites: Sequence[BenchSite],
    tokens: Sequence[str],
) -> dict[str, uuid.UUID]:
    engine = create_engine(DatabaseSettings(url=url))
    now = utcnow()
    cp_rows: list[dict[str, Any]] = []
    evse_rows: list[dict[str, Any]] = []
    connector_rows: list[dict[str, Any]] = []
    for c in chargers:
        cp_id, evse_id = uuid.uuid4(), uuid.uuid4()
        cp_rows.append(
            {
                "id": cp_id,
                "number": c.number,
                "identity": c.identity,
                "operator_id": BENCH_OPERATOR_ID,
                "location_id": c.location_id,
                "password_hash": hash_charger_password(password),
                "registration_status": "Pending",
                "connected": False,
                "created_at": now,
            }
        )
        # One EVSE with one connector each, as `laddnat chargers add` creates by default.
        evse_rows.append(
            {
                "id": evse_id,
                "charge_point_id": cp_id,
                "evse_number": 1,
                "evse_id": f"SE*LAD*E{c.number:04d}*1",
                "status": "Unknown",
            }
        )
        connector_rows.append(
            {
                "id": uuid.uuid4(),
                "evse_pk": evse_id,
                "connector_number": 1,
                "standard": "IEC_62196_T2",
                "power_type": "AC_3_PHASE" if c.phases == 3 else "AC_1_PHASE",
                "max_kw": c.max_kw,
                "status": "Unknown",
            }
        )
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(_table(Operator)),
                [
                    {
                        "id": BENCH_OPERATOR_ID,
                        "name": "Bench CPO",
                        "country_code": "SE",
                        "party_id": "LAD",
                        "created_at": now,
                    }
                ],
            )
            if sites:
                await conn.execute(
                    insert(_table(Location)),
                    [{"id": s.id, "name": s.name, "operator_id": BENCH_OPERATOR_ID, "created_at": now} for s in sites],
                )
            for table, rows in (
                (_table(ChargePoint), cp_rows),
                (_table(Evse), evse_rows),
                (_table(Connector), connector_rows),
            ):
                for chunk in _chunks(rows):
                    await conn.execute(insert(table), list(chunk))
            await conn.execute(
                insert(_table(Counter)), [{"name": "charge_point", "value": max(c.number for c in chargers)}]
            )
            await conn.execute(
                insert(_table(IdToken)),
                [
                    {"id": uuid.uuid4(), "token": token, "type": "ISO14443", "status": "Accepted", "created_at": now}
                    for token in tokens
                ],
            )
    finally:
        await engine.dispose()
    return {row["identity"]: row["id"] for row in cp_rows}


def register_chargers(
    url: str,
    chargers: Sequence[BenchCharger],
    password: str,
    *,
    sites: Sequence[BenchSite] = (),
    tokens: Sequence[str] = (ID_TAG,),
) -> dict[str, uuid.UUID]:
    """Insert the sites, the chargers and the accepted id tokens; returns the chargers' ids
    (charge_points.id, what the API calls them) by identity."""
    return asyncio.run(_register(url, chargers, password, sites, tokens))


async def _set_credentials(url: str, rows: list[dict[str, Any]]) -> None:
    cp = _table(ChargePoint)
    stmt = (
        update(cp)
        .where(cp.c.identity == bindparam("i"))
        .values(password_hash=bindparam("h"), boot_config_hash=bindparam("b"))
    )
    engine = create_engine(DatabaseSettings(url=url))
    try:
        async with engine.begin() as conn:
            for chunk in _chunks(rows):
                await conn.execute(stmt, list(chunk))
    finally:
        await engine.dispose()


def set_credentials(
    url: str, chargers: Sequence[BenchCharger], password_hash: Callable[[], str], boot_config_hash: Callable[[str], str]
) -> None:
    """Store ``password_hash()`` and ``boot_config_hash(version)`` on each charger."""
    rows = [{"i": c.identity, "h": password_hash(), "b": boot_config_hash(c.version)} for c in chargers]
    asyncio.run(_set_credentials(url, rows))


async def _count_current_hashes(url: str) -> int:
    cp = _table(ChargePoint)
    engine = create_engine(DatabaseSettings(url=url))
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).where(cp.c.password_hash.startswith(CHARGER_HASH_PREFIX))
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


def count_current_hashes(url: str) -> int:
    """Chargers whose password hash is in the current (hmac-sha256) format."""
    return asyncio.run(_count_current_hashes(url))


async def _create_operator(url: str, email: str, password: str) -> None:
    engine = create_engine(DatabaseSettings(url=url))
    try:
        async with create_sessionmaker(engine)() as db:
            await UserService(db).create_user(email, password, "admin", operator_id=BENCH_OPERATOR_ID)
    finally:
        await engine.dispose()


def create_operator(url: str, email: str, password: str) -> None:
    """The operator company's admin the bench signs in as to send commands (after
    ``register_chargers``, which creates the company)."""
    asyncio.run(_create_operator(url, email, password))


async def _backend_pids(admin_url: str, database: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=5)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def pg_backend_pids(admin_url: str, database: str) -> list[int]:
    """The PostgreSQL server processes serving ``database`` now (one per open connection):
    whose CPU is the bench's, on a server other sessions may share. Empty when unknown."""
    try:
        return asyncio.run(_backend_pids(admin_url, database))
    except Exception:
        return []
