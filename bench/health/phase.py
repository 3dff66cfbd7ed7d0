"""The health phase's run: the database, the server, the fleet, the faults, the judgement."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from app.core.settings import Settings
from bench.commands import OPERATOR_EMAIL, OPERATOR_PASSWORD
from bench.common import CpuWindow, free_port, pct
from bench.db import BenchCharger, BenchSite, create_operator, migrate, pg_create, pg_drop, register_chargers
from bench.health.corpus import REMOTE_START_TIMEOUT_S, Corpus, CorpusRun, corpus_tokens, plan_corpus
from bench.health.faults import FAULT_TAG, KINDS
from bench.health.fleet import FleetCharger, FleetSpec, quiet_simulator_logs
from bench.health.receivers import WebhookSink, fleet_workers, merge_fleet
from bench.health.results import POLL_S, HealthOptions, HealthResult, Injection, own_cpu_s, parse_ts, why
from bench.procs import ServerProcess, Workers
from devtools.simulator import SimConfig, SimulatedCharger, SimulatorError

PASSWORD = "bench-charger-password-0001"
POLL_LIMIT = 20
REP_SPACING_S = 2.0
KIND_SPACING_S = 0.1
SITE_SIZES = (1, 2, 2, 3, 4, 4, 6, 8)  # the fleet's sites, drawn in turn


class HealthPhase:
    def __init__(
        self,
        options: HealthOptions,
        *,
        db: str,
        url: str,
        tmp: Path,
        log: Callable[[str], None],
        servers: list[ServerProcess],
    ) -> None:
        self.o = options
        self.db = db
        self.url = url
        self.tmp = tmp
        self.log = log
        self.servers = servers  # the bench stops whatever is left in it
        self.rng = random.Random(options.seed)
        self.fleet_chargers: list[BenchCharger] = []
        self.fleet_plan: list[FleetCharger] = []
        self.injections: list[Injection] = []
        self.sites: list[BenchSite] = []
        self.fault_chargers: list[BenchCharger] = []
        self.corpus_chargers: list[BenchCharger] = []
        self.corpus_runs: list[CorpusRun] = []
        self.charger_ids: dict[str, uuid.UUID] = {}
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}  # incident id -> (first polled, item)
        self.poll_s: list[float] = []  # each poll's round trip
        self.warnings: Counter[str] = Counter()

    # -- layout ---------------------------------------------------------------------------

    def plan(self) -> None:
        """The fleet on sites of 1-8 chargers; each faulty charger on a site of its own."""
        number = 0
        sizes = iter(SITE_SIZES * (self.o.fleet // 2 + 1))
        while number < self.o.fleet:
            site = BenchSite(uuid.uuid4(), f"Bench fleet site {len(self.sites) + 1}")
            self.sites.append(site)
            for _ in range(min(next(sizes), self.o.fleet - number)):
                number += 1
                v201 = number % 10 == 0
                power_kw, phases = self.rng.choice(((11.0, 3), (11.0, 3), (22.0, 3), (7.4, 1), (3.7, 1)))
                identity = f"FLEET-{number:05d}"
                self.fleet_chargers.append(
                    BenchCharger(number, identity, "ocpp2.0.1" if v201 else "ocpp1.6", site.id, power_kw, phases)
                )
                self.fleet_plan.append(
                    FleetCharger(
                        identity=identity,
                        version="2.0.1" if v201 else "1.6",
                        power_kw=power_kw,
                        phases=phases,
                        meter_interval_s=self.rng.choice((5.0, 5.0, 5.0, 10.0, 10.0)),
                        idle_meter=self.rng.random() < 0.5,
                        event=self.rng.choices((None, "reboot", "new_socket"), (0.95, 0.03, 0.02))[0],
                        event_at=self.rng.uniform(0.1, 0.8),
                    )
                )
        for fault in (k for k in KINDS if k.key in self.o.faults):
            for rep in range(self.o.reps):
                site = BenchSite(uuid.uuid4(), f"Bench fault site {fault.key} {rep + 1}")
                self.sites.append(site)
                members = []
                for _ in range(fault.site_size):
                    number += 1
                    members.append(f"FAULT-{number:05d}")
                    version = "ocpp1.6" if fault.version == "1.6" else "ocpp2.0.1"
                    self.fault_chargers.append(BenchCharger(number, members[-1], version, site.id, 11.0, 3))
                self.injections.append(Injection(fault, rep, members[0], site.id, members[1:]))
        if self.o.corpus:
            sites, chargers, self.corpus_runs = plan_corpus(number + 1)
            self.sites += sites
            self.corpus_chargers = chargers

    # -- the run --------------------------------------------------------------------------

    def run(self) -> HealthResult:
        self.plan()
        t0 = time.monotonic()
        migrate(self.url)
        self.charger_ids = register_chargers(
            self.url,
            self.fleet_chargers + self.fault_chargers + self.corpus_chargers,
            PASSWORD,
            sites=self.sites,
            tokens=[FAULT_TAG, *self.tokens(), *corpus_tokens(self.corpus_runs)],
        )
        create_operator(self.url, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        self.log(
            f"health: {len(self.fleet_chargers)} fleet + {len(self.fault_chargers)} faulty + "
            f"{len(self.corpus_chargers)} corpus chargers on "
            f"{len(self.sites)} sites registered in {time.monotonic() - t0:.1f} s"
        )
        port, http_port = free_port(), free_port()
        server = ServerProcess.bridge(
            self.url, port, self.o.heartbeat_s, self.tmp / "run-health.log", http_port=http_port
        )
        server.env.update(self.o.env)
        if self.corpus_runs:
            server.env.setdefault("LADDNAT_HEALTH_REMOTE_START_TIMEOUT_S", f"{REMOTE_START_TIMEOUT_S:g}")
        settings = Settings.from_env(server.env)
        result = HealthResult(
            db=self.db,
            heartbeat_s=settings.ocpp.heartbeat_interval_s,
            h=settings.health,
            options=self.o,
            fleet_chargers=len(self.fleet_chargers),
            fleet_v201=sum(1 for c in self.fleet_plan if c.version != "1.6"),
            fleet_sites=len({c.location_id for c in self.fleet_chargers}),
            injections=self.injections,
            corpus=self.corpus_runs,
        )
        self.servers.append(server)
        sink = WebhookSink()
        workers: Workers | None = None
        try:
            server.start()
            sink.start()
            workers = fleet_workers(self.fleet_specs(server))
            quiet_simulator_logs(self.warnings)
            asyncio.run(self.measure(server, sink, workers, result))
        except Exception as exc:  # report it with what was measured rather than lose the run
            result.error = f"{type(exc).__name__}: {exc}"
            self.log(f"health: {result.error}")
        finally:
            if workers is not None:
                workers.close()
            sink.stop()
            server.stop()
        result.webhooks = sink.count
        result.polls = len(self.poll_s)
        p50 = pct(self.poll_s, 50)
        result.poll_p50_ms = None if p50 is None else p50 * 1000
        result.server_log = server.log_summary()
        result.sim_warnings = self.warnings
        return result

    def tokens(self) -> list[str]:
        """One card per car: a few more cars than chargers."""
        return [f"BENCH-CAR-{n:05d}" for n in range(1, max(10, self.o.fleet * 2))]

    def fleet_specs(self, server: ServerProcess) -> list[FleetSpec]:
        n = max(1, min(self.o.workers, len(self.fleet_plan)))
        tokens = self.tokens()
        return [
            FleetSpec(
                index=i,
                url=f"ws://{server.host}:{server.port}/ocpp",
                password=PASSWORD,
                chargers=self.fleet_plan[i::n],
                tokens=tokens,
                seed=self.o.seed * 1000 + i,
            )
            for i in range(n)
        ]

    async def measure(self, server: ServerProcess, sink: WebhookSink, workers: Workers, result: HealthResult) -> None:
        o = self.o
        async with httpx.AsyncClient(base_url=server.api_url, timeout=30.0) as http:
            answer = await http.post(
                "/api/v1/auth/token", json={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD}
            )
            answer.raise_for_status()
            http.headers["Authorization"] = f"Bearer {answer.json()['accessToken']}"
            answer = await http.post(
                "/api/v1/operator/webhooks",
                json={"url": sink.url, "description": "bench health phase", "events": ["incident.opened"]},
            )
            answer.raise_for_status()

            t0 = time.monotonic()
            workers.send("connect")
            await self.connect_faulty(server)
            connected = merge_fleet(await asyncio.to_thread(workers.collect, "connect", 180.0))
            result.fleet_connect_s = time.monotonic() - t0
            self.log(
                f"health: fleet {connected.get('connected', 0)}/{len(self.fleet_plan)} connected, "
                f"{sum(1 for i in self.injections if i.sim is not None)}/{len(self.injections)} faulty chargers "
                f"ready in {result.fleet_connect_s:.1f} s"
            )

            start_at = time.monotonic() + 1.0
            workers.send("run", start_at=start_at, active_s=o.duration_s)
            await asyncio.to_thread(workers.collect, "run", 30.0)
            cpu = CpuWindow(pid=server.pid)
            cpu.start()
            fleet_cpu0, bench_cpu0 = workers.cpu_seconds(), own_cpu_s()
            done = asyncio.Event()
            poller = asyncio.create_task(self.poll(http, done))
            try:
                first = start_at + o.warmup_s
                order = {fault.key: i for i, fault in enumerate(KINDS)}

                def at(inj: Injection) -> float:
                    return first + inj.rep * REP_SPACING_S + order[inj.fault.key] * KIND_SPACING_S

                await asyncio.gather(*(self.inject(inj, at(inj), result) for inj in self.injections))
            finally:
                done.set()
                await poller
            detected = sum(1 for i in self.injections if any(i.matches(item) for _, item in self.seen.values()))
            self.log(f"health: {detected}/{len(self.injections)} faults detected")

            # The corpus, once the timed faults are done (it does not load their timing), while
            # the fleet finishes its sessions.
            corpus = Corpus(
                self.corpus_runs,
                url=f"ws://{server.host}:{server.port}/ocpp",
                password=PASSWORD,
                http=http,
                charger_ids=self.charger_ids,
                heartbeat_s=result.heartbeat_s,
                h=result.h,
            )
            corpus_task = asyncio.create_task(corpus.run())

            # The fleet's sessions end on their own; then it idles, heartbeating, while
            # whatever its run set off has time to open.
            wait_s = max(0.0, start_at + o.duration_s - time.monotonic())
            workers.send("stop")
            result.fleet = merge_fleet(await asyncio.to_thread(workers.collect, "stop", wait_s + 90.0))
            ended = time.monotonic() if wait_s > 0 else start_at + o.duration_s
            await asyncio.sleep(max(0.0, ended + result.settle_s() - time.monotonic()))
            try:
                await corpus_task
            finally:
                result.corpus_s = corpus.took_s
            if self.corpus_runs:
                found = sum(1 for run in self.corpus_runs if run.incident is not None)
                faults = sum(1 for run in self.corpus_runs if run.fault is not None)
                self.log(f"health: corpus {found}/{faults} faults detected in {corpus.took_s:.1f} s")
                # The healthy routines' quiet is read as long after they ended as the fleet's.
                await asyncio.sleep(max(0.0, corpus.healthy_done + result.settle_s() - time.monotonic()))
            cpu.stop()
            result.window_s = time.monotonic() - start_at
            result.fleet_cores = (workers.cpu_seconds() - fleet_cpu0) / result.window_s
            result.bench_cores = (own_cpu_s() - bench_cpu0) / result.window_s
            result.server_cores, result.machine_pct = cpu.process_cores, cpu.machine_pct
            items = await self.all_incidents(http)
            self.judge(items, sink, result)
            await asyncio.gather(
                *(s.close() for i in self.injections for s in ([i.sim] if i.sim else []) + i.neighbours),
                corpus.close(),
                return_exceptions=True,
            )

    async def connect_faulty(self, server: ServerProcess) -> None:
        sem = asyncio.Semaphore(16)
        url = f"ws://{server.host}:{server.port}/ocpp"
        versions = {c.identity: ("1.6" if c.version == "ocpp1.6" else "2.0.1") for c in self.fault_chargers}

        async def one(identity: str) -> SimulatedCharger | None:
            sim = SimulatedCharger(
                SimConfig(url=url, identity=identity, password=PASSWORD, version=versions[identity], id_tag=FAULT_TAG)
            )
            async with sem:
                try:
                    await sim.connect()
                    await sim.boot()
                    await sim.status(1, "Available")
                except SimulatorError as exc:
                    self.log(f"health: {identity} did not connect: {exc}")
                    await sim.close()
                    return None
            return sim

        async def place(inj: Injection) -> None:
            sims = await asyncio.gather(one(inj.identity), *(one(i) for i in inj.site))
            inj.sim = sims[0]
            inj.neighbours = [s for s in sims[1:] if s is not None]
            if inj.sim is None:
                inj.error = "did not connect"

        await asyncio.gather(*(place(inj) for inj in self.injections))

    async def inject(self, inj: Injection, at: float, result: HealthResult) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        if inj.sim is None:
            return
        try:
            inj.onset = await inj.fault.script(inj.sim, inj.neighbours, inj.rep, result.h)
        except Exception as exc:
            inj.error = f"{type(exc).__name__}: {str(exc)[:80]}"
            return
        # A fault with a target is waited for well past it (a miss is still measured); one
        # without, for a while after its decisive message.
        target = result.target_s(inj.fault)
        if target is not None:
            deadline = inj.onset.mono + 2 * target + 10.0
        else:
            deadline = (inj.onset.answered or inj.onset.mono) + self.o.undetected_wait_s
        while time.monotonic() < deadline:
            if any(inj.matches(item) for _, item in self.seen.values()):
                return
            await asyncio.sleep(POLL_S)

    async def poll(self, http: httpx.AsyncClient, done: asyncio.Event) -> None:
        """The newest incidents every POLL_S, on a fixed schedule; first sight of each kept."""
        began = time.monotonic()
        k = 0
        while not done.is_set():
            try:
                sent = time.monotonic()
                answer = await http.get("/api/v1/operator/incidents", params={"limit": POLL_LIMIT})
                now = time.monotonic()
                self.poll_s.append(now - sent)
                if answer.status_code == 200:
                    for item in answer.json()["items"]:
                        self.seen.setdefault(str(item["id"]), (now, item))
            except httpx.HTTPError:
                pass
            k += 1
            await asyncio.sleep(max(0.0, began + k * POLL_S - time.monotonic()))

    async def all_incidents(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            answer = await http.get("/api/v1/operator/incidents", params={"limit": 500, "offset": len(items)})
            answer.raise_for_status()
            page = answer.json()
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    def judge(self, items: list[dict[str, Any]], sink: WebhookSink, result: HealthResult) -> None:
        """Which incident each fault opened and when; everything no fault owns is a false positive."""
        result.incidents = len(items)
        for inj in self.injections:
            if inj.onset is None:
                continue
            mine = sorted((i for i in items if inj.matches(i)), key=lambda i: parse_ts(i["openedAt"]))
            if mine:
                incident = inj.incident = mine[0]
                seen = self.seen.get(str(incident["id"]))
                if seen is not None:
                    inj.polled_s = seen[0] - inj.onset.mono
                arrived = sink.arrived.get(str(incident["id"]))
                if arrived is not None:
                    inj.webhook_s = arrived - inj.onset.mono
                inj.opened_s = parse_ts(incident["openedAt"]) - inj.onset.wall
            for other in items:
                if inj.owns(other) and other not in mine:
                    label = why(other)
                    if other.get("kind") == "offline" and inj.fault.kind != "offline":
                        # Nothing here takes the charger away for longer than the grace (a
                        # reset reconnects within milliseconds): wrong, whatever its state.
                        result.wrong.append(other)
                        if other.get("state") != "resolved" and inj.sim is not None:
                            label += ", still open while connected" if inj.sim.online else ", open, disconnected"
                    result.also.setdefault(inj.fault.key, Counter())[label] += 1
        corpus = {str(run.location_id): run for run in self.corpus_runs}
        for item in items:
            owners = [inj for inj in self.injections if inj.owns(item)]
            run = corpus.get(str(item.get("locationId")))
            if owners:
                result.caused[str(item["kind"])] += 1
            elif run is not None and run.fault is not None:
                result.corpus_caused[str(item["kind"])] += 1
            else:  # a fleet charger's, or a healthy routine's
                result.false_positives.append(item)
                if run is not None:
                    result.routine_incidents.setdefault(run.script.name, []).append(item)


def health_database(db: str, pg_url: str, run_id: str, tmp: Path) -> tuple[str, str | None]:
    """A fresh database of its own: (url, the PostgreSQL database to drop afterwards)."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'health.sqlite3'}", None
    name = f"laddnat_bench_{run_id}_health"
    return pg_create(pg_url, name), name


def run_health(
    options: HealthOptions,
    *,
    db: str,
    pg_url: str,
    run_id: str,
    tmp: Path,
    log: Callable[[str], None],
    servers: list[ServerProcess],
) -> HealthResult:
    url, pg_database = health_database(db, pg_url, run_id, tmp)
    try:
        label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[db]
        return HealthPhase(options, db=label, url=url, tmp=tmp, log=log, servers=servers).run()
    finally:
        if pg_database is not None:
            try:
                pg_drop(pg_url, pg_database)
            except Exception as exc:
                log(f"could not drop {pg_database}: {exc}")
