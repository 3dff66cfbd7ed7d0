"""The process roles as real child processes: `laddnat api`, `laddnat worker`, `laddnat bridge`
on one database, each answering /healthz, /readyz and /metrics with its role and node id."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_bus_contract import NATS_SERVER, NatsServer
from tests.e2e.test_cli import clean_env, laddnat
from tests.e2e.test_restart import free_port

# Starts processes of its own: left out of `make test-fast` (see tests/conftest.py).
pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[2]
SECRET = "roles-test-secret-key-0123456789abcdef"
METRICS_TOKEN = "roles-metrics-token-0123"
AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@dataclass
class Process:
    """`laddnat <args>` running until stopped, its HTTP port known."""

    args: tuple[str, ...]
    env: dict[str, str]
    port: int
    log: Path
    proc: asyncio.subprocess.Process | None = field(default=None)

    @property
    def node(self) -> str:
        return self.env["LADDNAT_NODE_ID"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: httpx.AsyncClient) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", *self.args, cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        for _ in range(600):
            if self.proc.returncode is not None:
                raise RuntimeError(f"laddnat {' '.join(self.args)} exited: {self.log.read_text()[-3000:]}")
            try:
                # Its own node, not whatever else took the free port first (another test's
                # process): that one's answers would be taken for this one's.
                scraped = await http.get(f"{self.url}/metrics", headers=AUTH)
                if scraped.status_code == 200 and self.node in {i["node"] for i in process_info(scraped.text)}:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"laddnat {' '.join(self.args)} did not answer /metrics as {self.node}")

    async def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)
        return self.proc.returncode


def process(args: tuple[str, ...], database_url: str, node: str, tmp: Path, **env: str) -> Process:
    port = free_port()
    ports = {
        "api": {"LADDNAT_HTTP_PORT": str(port)},
        "worker": {"LADDNAT_WORKER_HTTP_PORT": str(port)},
        "bridge": {"LADDNAT_OCPP_PORT": str(port)},
    }[args[0]]
    full_env = clean_env(
        LADDNAT_DATABASE_URL=database_url,
        LADDNAT_SECRET_KEY=SECRET,
        LADDNAT_METRICS_TOKEN=METRICS_TOKEN,
        LADDNAT_NODE_ID=node,
        # Six such processes and the other xdist workers' stacks share PostgreSQL's 100
        # connections: the default pools (20 + 10 each) ran it out on a busy machine.
        LADDNAT_DB_POOL_SIZE="4",
        LADDNAT_DB_MAX_OVERFLOW="6",
        **(ports | env),
    )
    return Process(args, full_env, port, tmp / f"{node}.log")


def process_info(text: str) -> list[dict[str, str]]:
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "laddnat_process_info" and sample.value == 1
    ]


def workers_running(text: str) -> set[str]:
    return {
        sample.labels["worker"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "laddnat_worker_running" and sample.value == 1
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def test_worker_help_lists_every_flag() -> None:
    result = await laddnat("worker", "--help", env=clean_env())
    assert result.code == 0, result.err
    for flag in ("--health", "--payments", "--webhooks", "--mail", "--roaming", "LADDNAT_WORKER_HTTP_PORT"):
        assert flag in result.out


async def test_api_worker_and_bridge_on_one_database_each_answer_health_readiness_and_metrics(
    database_url: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    api = process(("api",), database_url, "api-1", tmp_path)
    worker = process(("worker", "--payments"), database_url, "worker-1", tmp_path)
    bridge = process(("bridge",), database_url, "bridge-1", tmp_path)
    try:
        await asyncio.gather(api.start(http), worker.start(http), bridge.start(http))
        for proc, role in ((api, "api"), (worker, "worker"), (bridge, "bridge")):
            ready = await http.get(f"{proc.url}/readyz")
            assert ready.status_code == 200, (role, ready.text)
            assert (await http.get(f"{proc.url}/metrics")).status_code in (401, 404), role  # only with the token
            scraped = await http.get(f"{proc.url}/metrics", headers=AUTH)
            assert scraped.status_code == 200, (role, scraped.text)
            assert process_info(scraped.text) == [{"role": role, "node": f"{role}-1", "event_loop": "uvloop"}]
        api_metrics = (await http.get(f"{api.url}/metrics", headers=AUTH)).text
        worker_metrics = (await http.get(f"{worker.url}/metrics", headers=AUTH)).text
        # The API runs no background work unless asked; the worker runs what its flags name.
        assert workers_running(api_metrics) == set()
        assert workers_running(worker_metrics) == {"payments"}
        # The worker has no public API: only its three endpoints.
        assert (await http.get(f"{worker.url}/api/v1/operator/chargers")).status_code == 404
        assert (await http.get(f"{api.url}/api/v1/operator/chargers")).status_code == 401
    finally:
        codes = await asyncio.gather(api.stop(), worker.stop(), bridge.stop())
    # SIGTERM is a clean shutdown for every role.
    assert codes == [0, 0, 0], [p.log.read_text()[-2000:] for p in (api, worker, bridge)]


async def test_readiness_is_503_while_the_database_is_unreachable(tmp_path: Path, http: httpx.AsyncClient) -> None:
    # Nothing listens on the port: every connection is refused at once.
    unreachable = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    worker = process(("worker", "--mail"), unreachable, "worker-down", tmp_path)
    api = process(("api",), unreachable, "api-down", tmp_path)
    bridge = process(("bridge",), unreachable, "bridge-down", tmp_path)
    try:
        # Each starts all the same (a database may come up after its clients) and is alive...
        await asyncio.gather(worker.start(http), api.start(http), bridge.start(http))
        for proc in (worker, api, bridge):
            ready = await http.get(f"{proc.url}/readyz")
            # ... but not ready, with the API's problem and code.
            assert ready.status_code == 503, ready.text
            assert ready.headers["content-type"].startswith("application/problem+json")
            assert ready.json()["code"] == "db.unavailable"
    finally:
        await asyncio.gather(worker.stop(), api.stop(), bridge.stop())


async def readiness_becomes(
    http: httpx.AsyncClient, proc: Process, status: int, timeout_s: float = 30
) -> httpx.Response:
    """Poll /readyz until it answers ``status`` (the process notices a lost bus on its own)."""
    async with asyncio.timeout(timeout_s):
        while True:
            reply = await http.get(f"{proc.url}/readyz")
            if reply.status_code == status:
                return reply
            await asyncio.sleep(0.1)


@pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")
async def test_readiness_follows_the_nats_bus_away_and_back(
    database_url: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    on_nats = {"LADDNAT_BUS_URL": nats.url}
    procs = [
        process(("worker", "--webhooks"), database_url, "worker-nats", tmp_path, **on_nats),
        process(("api",), database_url, "api-nats", tmp_path, **on_nats),
        process(("bridge",), database_url, "bridge-nats", tmp_path, **on_nats),
    ]
    try:
        await asyncio.gather(*(proc.start(http) for proc in procs))
        for proc in procs:
            assert (await http.get(f"{proc.url}/readyz")).status_code == 200, proc.args
        nats.kill()
        for proc in procs:
            gone = await readiness_becomes(http, proc, 503)
            assert gone.json()["code"] == "bus.unreachable", (proc.args, gone.text)
            assert (await http.get(f"{proc.url}/healthz")).status_code == 200  # alive all along
        nats.start()
        for proc in procs:
            await readiness_becomes(http, proc, 200)  # reconnected by itself
    finally:
        await asyncio.gather(*(proc.stop() for proc in procs))
        if nats.proc is not None:
            nats.kill()


async def test_a_bad_worker_port_is_one_line(database_url: str) -> None:
    result = await laddnat(
        "worker",
        env=clean_env(LADDNAT_DATABASE_URL=database_url, LADDNAT_SECRET_KEY=SECRET, LADDNAT_WORKER_HTTP_PORT="http"),
        limit_s=30,
    )
    assert result.code == 2 and len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("laddnat: configuration error: LADDNAT_WORKER_HTTP_PORT=")
