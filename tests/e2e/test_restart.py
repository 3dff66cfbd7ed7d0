"""SIGKILL the bridge mid-session: the charger reconnects, carries on, and nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import DatabaseSettings
from ocpp_bridge.protocol import Version
from tests.e2e.ocpp_helpers import PASSWORD
from tests.support import RawCharger

# Starts processes of its own: left out of `make test-fast` (see tests/conftest.py).
pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BridgeProcess:
    """`laddnat bridge` as a real child process."""

    def __init__(self, database_url: str, port: int) -> None:
        self.env = {
            **os.environ,
            "LADDNAT_DATABASE_URL": database_url,
            "LADDNAT_OCPP_PORT": str(port),
            "LADDNAT_LOG_LEVEL": "WARNING",
        }
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"laddnat-bridge-{port}.log"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", "bridge", cwd=ROOT, env=self.env, stderr=log, stdout=log
            )
        for _ in range(300):
            if self.proc.returncode is not None:
                raise RuntimeError(f"bridge exited: {self.log.read_text()[-3000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("bridge did not start")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)


@pytest.fixture(scope="module")
async def bridge_process(database_url: str) -> AsyncIterator[BridgeProcess]:
    proc = BridgeProcess(database_url, free_port())
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def db_maker(database_url: str) -> AsyncIterator[object]:
    engine = create_engine(DatabaseSettings(url=database_url))
    yield create_sessionmaker(engine)
    await engine.dispose()


def energy(wh: float, ts: str, context: str) -> list[dict[str, object]]:
    sample = {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"}
    return [{"timestamp": ts, "sampledValue": [sample]}]


async def reconnect(url: str, identity: str, version: Version) -> RawCharger:
    for _ in range(100):
        try:
            return await RawCharger.open(url, identity, PASSWORD, version)
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("could not reconnect")


async def test_sigkill_mid_session_loses_nothing(bridge_process: BridgeProcess, db_maker) -> None:  # type: ignore[no-untyped-def]
    from app.sessions.service import TransactionService

    async with db_maker() as db:
        charger16 = await ChargerService(db, InProcessBus()).register("KILL-16", PASSWORD, evse_count=1)
        charger201 = await ChargerService(db, InProcessBus()).register("KILL-201", PASSWORD, evse_count=1)
    url = f"ws://127.0.0.1:{bridge_process.port}/ocpp"
    await bridge_process.start()

    a = await RawCharger.open(url, "KILL-16", PASSWORD, Version.V16)
    b = await RawCharger.open(url, "KILL-201", PASSWORD, Version.V201)
    start = {"connectorId": 1, "idTag": "K", "meterStart": 500, "timestamp": "2026-05-01T10:00:00Z"}
    number = (await a.ok("StartTransaction", start))["transactionId"]
    await a.ok(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": number,
            "meterValue": [{"timestamp": "2026-05-01T10:05:00Z", "sampledValue": [{"value": "1500"}]}],
        },
    )
    started = {
        "eventType": "Started",
        "timestamp": "2026-05-01T10:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "T-KILL"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": energy(100, "2026-05-01T10:00:00Z", "Transaction.Begin"),
    }
    await b.ok("TransactionEvent", started)

    await bridge_process.kill()
    await bridge_process.start()

    a = await reconnect(url, "KILL-16", Version.V16)
    b = await reconnect(url, "KILL-201", Version.V201)
    # The charger never got our reply to the start before the crash: it sends it again.
    assert (await a.ok("StartTransaction", start))["transactionId"] == number
    await a.ok(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": number,
            "meterValue": [{"timestamp": "2026-05-01T10:10:00Z", "sampledValue": [{"value": "2500"}]}],
        },
    )
    await a.ok("StopTransaction", {"transactionId": number, "meterStop": 3500, "timestamp": "2026-05-01T10:15:00Z"})
    await b.ok("TransactionEvent", started)  # resent after reconnect
    await b.ok(
        "TransactionEvent",
        {
            "eventType": "Ended",
            "timestamp": "2026-05-01T10:20:00Z",
            "triggerReason": "StopAuthorized",
            "seqNo": 1,
            "transactionInfo": {"transactionId": "T-KILL", "stoppedReason": "Local"},
            "meterValue": energy(4100, "2026-05-01T10:20:00Z", "Transaction.End"),
        },
    )
    await a.close()
    await b.close()

    async with db_maker() as db:
        service = TransactionService(db, InProcessBus())
        tx16 = await service.list(charge_point_id=charger16.id)
        tx201 = await service.list(charge_point_id=charger201.id)
    assert [(t.status, t.energy_wh) for t in tx16] == [("completed", 3000)]
    assert [(t.status, t.energy_wh) for t in tx201] == [("completed", 4000)]
