"""`laddnat` as a real child process: exit codes, one-line errors, and what lands in the database.

Each launch costs about a second, so assertions are grouped and independent launches run
side by side.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from app.chargers.models import ChargePoint, Location
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import DatabaseSettings
from app.operators.models import Operator
from tests.support import LOW_HASH_COST_ENV

# Starts processes of its own: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [pytest.mark.subprocess, pytest.mark.one_database]

ROOT = Path(__file__).resolve().parents[2]
CHARGER_PASSWORD = "cli-charger-pass-0020"  # 21 characters
USER_PASSWORD = "a-long-operator-password"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any LADDNAT_* setting of the developer's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LADDNAT_")}
    return {**env, **LOW_HASH_COST_ENV, "LADDNAT_LOG_LEVEL": "WARNING", **extra}


async def laddnat(*args: str, env: dict[str, str], limit_s: float = 60) -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_chargers_add_list_and_refusals(database_url: str) -> None:
    env = clean_env(LADDNAT_DATABASE_URL=database_url)
    added = await laddnat(
        "chargers", "add", "CP-CLI-1", "--password", CHARGER_PASSWORD, "--location", "CLI Site", env=env
    )
    assert added.code == 0, added.err
    assert added.out.startswith("registered CP-CLI-1 (id ")

    # Independent of each other (the weak one is refused before anything is written).
    listed, weak, duplicate = await asyncio.gather(
        laddnat("chargers", "list", env=env),
        laddnat("chargers", "add", "CP-CLI-2", "--password", "short", env=env),
        laddnat("chargers", "add", "CP-CLI-1", "--password", CHARGER_PASSWORD, env=env),
    )
    assert listed.code == 0, listed.err
    header, *rows = listed.out.splitlines()
    assert header.split()[:2] == ["IDENTITY", "OCPP"]
    [row] = [r for r in rows if r.split()[0] == "CP-CLI-1"]
    assert row.split()[1:4] == ["-", "Pending", "no"]

    assert weak.code != 0
    assert len(weak.err_lines) == 1, weak.err  # one line, no traceback
    assert "16" in weak.err_lines[0]
    assert "Traceback" not in weak.err

    assert duplicate.code != 0
    assert len(duplicate.err_lines) == 1, duplicate.err
    assert "CP-CLI-1" in duplicate.err and "already" in duplicate.err

    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with create_sessionmaker(engine)() as db:
            identities = set(await db.scalars(select(ChargePoint.identity)))
            location = await db.scalar(
                select(Location.name)
                .join(ChargePoint, ChargePoint.location_id == Location.id)
                .where(ChargePoint.identity == "CP-CLI-1")
            )
    finally:
        await engine.dispose()
    assert "CP-CLI-1" in identities and "CP-CLI-2" not in identities
    assert location == "CLI Site"


async def test_tenants_add_list_and_users_add(database_url: str) -> None:
    env = clean_env(LADDNAT_DATABASE_URL=database_url)
    tenant = ("tenants", "add", "CLI Laddning AB", "--country", "SE", "--party", "CLI")
    created = await laddnat(*tenant, "--admin-email", "boss@cli.test", "--admin-password", USER_PASSWORD, env=env)
    assert created.code == 0, created.err
    assert created.out.startswith("created CLI Laddning AB SE*CLI (id ") and "admin boss@cli.test" in created.out

    # Independent of each other: a taken party, a bad party id, and the users around the company.
    admin = ("--admin-email", "x@cli.test", "--admin-password", USER_PASSWORD)
    user = ("users", "add", "--password", USER_PASSWORD)
    taken, bad_party, staff, platform, homeless = await asyncio.gather(
        laddnat(*tenant, "--admin-email", "other@cli.test", "--admin-password", USER_PASSWORD, env=env),
        laddnat("tenants", "add", "X", "--country", "SE", "--party", "c-1", *admin, env=env),
        laddnat(*user, "a@b.se", "--role", "finance", "--tenant", "SE*CLI", env=env),
        laddnat(*user, "root@b.se", "--role", "platform_admin", env=env),
        laddnat(*user, "lost@b.se", "--role", "operations", env=env),
    )
    assert taken.code == 1 and len(taken.err_lines) == 1, taken.err
    assert "SE*CLI" in taken.err and "tenant.party_taken" in taken.err
    assert bad_party.code == 1 and "tenant.invalid" in bad_party.err and len(bad_party.err_lines) == 1, bad_party.err
    assert staff.code == 0, staff.err
    assert staff.out.startswith("created finance a@b.se")
    assert platform.code == 0, platform.err
    assert platform.out.startswith("created platform_admin root@b.se")
    assert homeless.code == 2 and len(homeless.err_lines) == 1 and "--tenant" in homeless.err, homeless.err

    listed, again = await asyncio.gather(
        laddnat("tenants", "list", env=env),
        laddnat(*user, "a@b.se", "--role", "admin", "--tenant", "CLI", env=env),
    )
    assert listed.code == 0, listed.err
    header, *rows = listed.out.splitlines()
    assert header.split()[:2] == ["PARTY", "NAME"]
    [row] = [r for r in rows if r.startswith("SE*CLI")]
    assert "CLI Laddning AB" in row and row.endswith("boss@cli.test")
    assert again.code != 0
    assert len(again.err_lines) == 1, again.err
    assert "a@b.se" in again.err and "already" in again.err

    # A charger registered for the company is the company's, with the location made for it.
    charger = ("chargers", "add", "CP-CLI-T", "--password", CHARGER_PASSWORD, "--location", "CLI Company Site")
    owned = await laddnat(*charger, "--tenant", "SE*CLI", env=env)
    assert owned.code == 0, owned.err
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with create_sessionmaker(engine)() as db:
            row = (
                await db.execute(
                    select(Operator.party_id, Location.operator_id)
                    .join(ChargePoint, ChargePoint.operator_id == Operator.id)
                    .join(Location, Location.id == ChargePoint.location_id)
                    .where(ChargePoint.identity == "CP-CLI-T")
                )
            ).one()
            company = await db.scalar(select(Operator.id).where(Operator.party_id == "CLI"))
    finally:
        await engine.dispose()
    assert (row.party_id, row.operator_id) == ("CLI", company)


async def test_migrate_and_seed_demo_twice(database_url: str) -> None:
    env = clean_env(LADDNAT_DATABASE_URL=database_url)
    migrated = await laddnat("migrate", env=env)
    assert migrated.code == 0, migrated.err
    assert migrated.out.startswith("migrated ")
    first = await laddnat("seed-demo", env=env)
    assert first.code == 0, first.err
    assert first.out.strip() == "demo network seeded"
    second = await laddnat("seed-demo", env=env)
    assert second.code == 0, second.err
    assert second.out.strip() == "demo network already there"


async def test_configuration_errors_exit_2_with_one_line(database_url: str) -> None:
    bad_port, no_secret = await asyncio.gather(
        laddnat("bridge", env=clean_env(LADDNAT_DATABASE_URL=database_url, LADDNAT_OCPP_PORT="abc"), limit_s=30),
        laddnat("api", env=clean_env(LADDNAT_DATABASE_URL=database_url), limit_s=30),
    )
    assert bad_port.code == 2, bad_port
    assert len(bad_port.err_lines) == 1, bad_port.err
    assert "LADDNAT_OCPP_PORT" in bad_port.err_lines[0]
    assert bad_port.out == ""

    assert no_secret.code == 2, no_secret
    assert len(no_secret.err_lines) == 1, no_secret.err
    assert "LADDNAT_SECRET_KEY" in no_secret.err_lines[0]
    assert no_secret.out == ""
