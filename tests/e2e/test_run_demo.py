"""`laddnat run` as a newcomer meets it: it comes up, the printed simulator command charges
a demo charger, and the transaction with its meter samples shows in the operator API."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.chargers.models import ChargePoint
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import DatabaseSettings
from app.operators.models import Operator
from tests.e2e.test_restart import free_port

# Starts processes of its own: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [pytest.mark.subprocess, pytest.mark.one_database]

ROOT = Path(__file__).resolve().parents[2]


class RunProcess:
    def __init__(self, database_url: str) -> None:
        self.http_port, self.ocpp_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "LADDNAT_DATABASE_URL": database_url,
            "LADDNAT_HTTP_PORT": str(self.http_port),
            "LADDNAT_OCPP_PORT": str(self.ocpp_port),
            "LADDNAT_LOG_LEVEL": "WARNING",
        }
        self.env.pop("LADDNAT_SECRET_KEY", None)
        self.banner: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "run",
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"laddnat run exited: {self.banner}")
                self.banner.append(line.rstrip())
                if "Stop with Ctrl-C" in line:  # the banner's last line
                    return

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 30)


@pytest.fixture(scope="module")
async def running(database_url: str) -> AsyncIterator[RunProcess]:
    proc = RunProcess(database_url)
    await proc.start()
    yield proc
    if proc.proc is not None and proc.proc.returncode is None:
        await proc.stop()


def line_with(banner: list[str], text: str) -> str:
    return next(line for line in banner if text in line)


async def test_banner_tells_where_everything_is(running: RunProcess) -> None:
    text = "\n".join(running.banner)
    assert f"http://127.0.0.1:{running.http_port}/schema" in text
    assert f"ws://127.0.0.1:{running.ocpp_port}/ocpp" in text
    assert "DEMO-CP-001" in text and "password" in text
    assert "operator@laddnat.test" in text
    # The second tenant and the platform admin, with their passwords, and the second
    # tenant's chargers.
    assert "admin@norrsken.test / demo-norrsken-pw" in text and "NRK-CP-001" in text
    assert "platform@laddnat.test / demo-platform-pw" in text
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/schema/openapi.json")).status_code == 200


async def test_printed_simulator_command_charges_and_shows_in_api(running: RunProcess) -> None:
    command = shlex.split(line_with(running.banner, "simulate").strip())
    assert command[0].endswith("laddnat")
    sim = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *command[1:],
        "--duration",
        "2",
        "--interval",
        "0.5",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(sim.communicate(), 60)
    assert sim.returncode == 0, output.decode()

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
        login = await http.post(
            "/api/v1/auth/token", json={"email": "operator@laddnat.test", "password": "demo-operator-pw"}
        )
        assert login.status_code == 201 or login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        listing = (await http.get("/api/v1/operator/transactions", headers=headers)).json()
        [tx] = [t for t in listing["items"] if t["chargerIdentity"] == "DEMO-CP-001"]
        assert tx["status"] == "completed" and tx["energyWh"] > 0
        detail = (await http.get(f"/api/v1/operator/transactions/{tx['id']}", headers=headers)).json()
        measurands = {s["measurand"] for s in detail["meterSamples"]}
        assert "Energy.Active.Import.Register" in measurands and "Power.Active.Import" in measurands


async def test_two_tenants_and_a_platform_admin_are_seeded(running: RunProcess, database_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:

        async def login(email: str, password: str) -> dict[str, str]:
            r = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['accessToken']}"}

        platform = await login("platform@laddnat.test", "demo-platform-pw")
        tenants = (await http.get("/api/v1/platform/tenants", headers=platform)).json()["items"]
        assert {(t["partyId"], tuple(t["admins"])) for t in tenants} == {
            ("LAD", ("operator@laddnat.test",)),
            ("NRK", ("admin@norrsken.test",)),
        }
        norrsken = await login("admin@norrsken.test", "demo-norrsken-pw")
        staff = (await http.get("/api/v1/operator/users", headers=norrsken)).json()["items"]
        assert [u["email"] for u in staff] == ["admin@norrsken.test"]

    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with create_sessionmaker(engine)() as db:
            rows = await db.execute(
                select(ChargePoint.identity, Operator.party_id).join(Operator, Operator.id == ChargePoint.operator_id)
            )
            owners = {identity: party for identity, party in rows}
    finally:
        await engine.dispose()
    assert owners == {
        "DEMO-CP-001": "LAD",
        "DEMO-CP-002": "LAD",
        "DEMO-CP-003": "LAD",
        "NRK-CP-001": "NRK",
        "NRK-CP-002": "NRK",
    }


async def test_sigterm_stops_cleanly(running: RunProcess) -> None:
    assert await running.stop() == 0
