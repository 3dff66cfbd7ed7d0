"""`make bench`: drive a real bridge process with raw WebSocket chargers; print one markdown table.

Phases, each against its own fresh server process:

1. baseline: a bare ``websockets`` server (bench/baseline_server.py), saturated by the
   active chargers: the ceiling for this machine and this load generator.
2. throughput, per database: the whole system (``laddnat run --no-seed``: API + bridge +
   in-process bus) with the active chargers only; each starts a transaction, then sends
   80% MeterValues / 10% Heartbeat / 10% StatusNotification with one CALL outstanding:
   closed loop (saturation msg/s), then open loop at a fixed rate (reply latency counted
   from the scheduled send time). During that open-loop window on PostgreSQL (SQLite when
   PostgreSQL is not run), the bench sends --commands clear-cache commands through the
   operator API to random active chargers, evenly spread: the command round trip
   (API -> bus -> bridge -> charger -> answer -> HTTP 200) under load.
3. scale: the bridge alone with all N chargers connected and booted (RSS per connection),
   heartbeating at the interval the bridge gives them; then all of them drop (RST) and
   reconnect + boot at once (the reconnect storm).
4. first contact (issue 16: a node loss moves its chargers onto a bridge that has never
   seen them): --first-contact chargers (default 19,000; quick 2,000), each with its boot
   configuration applied as the previous bridge left it, connect at once to a bridge
   process just started (no credential cache): time until all are Accepted. Measured twice
   in the run, each time on a new process: with the password hashes as they were before
   hmac-sha256 (argon2id, upgraded during that storm: the baseline) and as they are now.
5. scale-out (bench/scaleout/, issue 16), on a PostgreSQL database of its own and a
   nats-server the bench starts: throughput with each server pinned to a core (the raw
   websockets server, one bridge, two), then two bridges holding --scaleout-chargers
   between them with an API and a worker: command round trip through the API under the
   load, JetStream events per second, and one bridge killed (SIGKILL) with its chargers
   onto a fresh bridge. ``--scaleout-only`` runs it alone, ``--skip-scaleout`` leaves it out.
6. health (bench/health/), on a database of its own: the whole system with simulator
   chargers; faults of every kind injected into a few while a healthy fleet runs: time to
   detect each kind, and the incidents the healthy ones got (false positives). Its own
   tables; ``--health-only`` runs it alone, ``--skip-health`` leaves it out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.security import PasswordHashing, hash_charger_password
from app.core.settings import AuthSettings, Settings
from bench.commands import COMMAND, OPERATOR_EMAIL, OPERATOR_PASSWORD, CommandProbe, CommandResult, sign_in
from bench.common import (
    CpuWindow,
    free_port,
    listen_queue,
    listen_stats,
    machine_line,
    pct,
    pin,
    raise_nofile_limit,
    read_sysctl,
    rss_kib,
)
from bench.db import (
    BenchCharger,
    count_current_hashes,
    create_operator,
    migrate,
    pg_create,
    pg_drop,
    pg_reachable,
    register_chargers,
    set_credentials,
)
from bench.health import HealthOptions, HealthResult, run_health
from bench.health.faults import KINDS
from bench.loadgen import FIRMWARE, V16, V201, WorkerSpec
from bench.procs import ServerProcess, Workers
from bench.scaleout import ScaleOutResult, add_arguments, check_arguments, run_scaleout, scaleout_rows
from ocpp_bridge.boot_config import profile_calls, profile_hash
from ocpp_bridge.protocol import Version

PASSWORD = "bench-charger-password-0001"  # 16-40 characters, like a real one
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DB_LABEL = {"sqlite": "SQLite", "postgres": "PostgreSQL"}

ROW_CONNECTED = "Chargers connected + booted"
ROW_RSS = "Bridge RSS per connection (KiB)"
ROW_THROUGHPUT = "Throughput at saturation, {db} (msg/s)"
ROW_BASELINE = "Baseline raw websockets server (msg/s)"
ROW_RATIO = "Throughput / baseline, {db}"
ROW_P50 = "Reply latency p50 at {rate} msg/s, {db} (ms)"
ROW_P99 = "Reply latency p99 at {rate} msg/s, {db} (ms)"
ROW_STORM_TIME = "Reconnect storm: all Accepted after (s)"
ROW_STORM_REFUSED = "Reconnect storm: refused"
ROW_STORM_FAILED = "Reconnect storm: failed attempts"
ROW_FIRST_CONTACT = "First contact: {n} chargers onto a fresh bridge, all Accepted after (s)"
ROW_FIRST_CONTACT_BASE = "First contact, baseline argon2id hashes: all Accepted after (s)"
ROW_FIRST_CONTACT_PINNED = "First contact, the bridge on a core of its own (taskset): all Accepted after (s)"
# The outside harness's way: the bridge alone on core 0, the load generator on core 1.
BRIDGE_CORE, GENERATOR_CORE = 0, 1
ROW_COMMAND_P50 = "Command round trip p50, {db} (ms)"
ROW_COMMAND_P99 = "Command round trip p99, {db} (ms)"


# -- options -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--chargers", type=int, help="idle chargers connected at once (default 19000; quick 300)")
    p.add_argument("--active", type=int, help="chargers generating load (default 600; quick 100)")
    p.add_argument("--duration", type=float, help="seconds per measuring window (default 10; quick 3)")
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a small run: 300 chargers, 100 active, 3 s windows; health: 60 chargers for 30 s, 2 per fault",
    )
    p.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server to create the bench database on")
    p.add_argument(
        "--scale-db",
        choices=("sqlite", "postgres"),
        help="database of the connections + storm phase (default: postgres when selected, else sqlite)",
    )
    p.add_argument("--workers", type=int, default=4, help="load-generator processes (default 4)")
    p.add_argument("--rate", type=float, default=1000.0, help="offered rate of the latency phase (msg/s)")
    p.add_argument(
        "--commands",
        type=int,
        help="commands sent through the API during the latency window, evenly spread (default 20 per second)",
    )
    p.add_argument(
        "--heartbeat", type=int, default=120, help="heartbeat interval the bridge gives the idle chargers (s)"
    )
    p.add_argument("--concurrency", type=int, default=48, help="handshakes in flight per worker while connecting")
    p.add_argument("--open-timeout", type=float, default=30.0, help="a charger's TCP + upgrade + boot timeout (s)")
    p.add_argument("--connect-timeout", type=float, help="deadline for connecting all chargers (default 110 s)")
    p.add_argument("--storm-timeout", type=float, help="deadline for the reconnect storm (default 60 s)")
    p.add_argument(
        "--first-contact", type=int, help="chargers of the first-contact phase (default 19000; quick 2000; 0: skip)"
    )
    p.add_argument("--first-contact-timeout", type=float, default=60.0, help="its deadline per storm (default 60 s)")
    p.add_argument("--first-contact-only", action="store_true", help="run the first-contact phase alone")
    p.add_argument(
        "--py-spy",
        metavar="DIR",
        help="py-spy profiles of the bridge (saturation, connect, storm, first contact) into DIR",
    )
    p.add_argument("--keep-logs", metavar="DIR", help="copy the server logs into DIR before cleaning up")
    p.add_argument("--skip-baseline", action="store_true", help=argparse.SUPPRESS)
    health = p.add_argument_group("health phase (bench/health/): fault detection and false positives")
    health.add_argument("--health-only", action="store_true", help="run the health phase alone")
    health.add_argument("--skip-health", action="store_true", help="leave the health phase out")
    health.add_argument("--health-fleet", type=int, help="healthy chargers (default 400; quick 60)")
    health.add_argument(
        "--health-duration", type=float, help="seconds of sessions of the healthy fleet (default 120; quick 30)"
    )
    health.add_argument("--health-reps", type=int, help="chargers per kind of fault (default 5; quick 2)")
    health.add_argument(
        "--health-heartbeat", type=int, default=5, help="heartbeat interval of the health phase (s, default 5)"
    )
    health.add_argument("--health-workers", type=int, default=2, help="fleet processes (default 2)")
    # The smoke test's: thresholds other than the server's defaults (LADDNAT_HEALTH_*=VALUE),
    # a shorter warm-up, and a shorter wait (after its decisive message) for a fault without a target.
    health.add_argument("--health-env", action="append", default=[], metavar="VAR=VALUE", help=argparse.SUPPRESS)
    health.add_argument("--health-warmup", type=float, help=argparse.SUPPRESS)  # default 25; quick 10
    health.add_argument("--health-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    health.add_argument(
        "--health-faults", metavar="KEY,...", help="only these faults (keys in bench/health/faults.py; default all)"
    )
    add_arguments(p)
    args = p.parse_args(argv)
    quick = args.quick
    args.chargers = args.chargers or (300 if quick else 19_000)
    args.active = args.active or (100 if quick else 600)
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.warmup = min(2.0, max(0.5, args.duration / 3))
    args.settle = 1.0 if args.chargers < 2000 else 5.0
    args.connect_timeout = args.connect_timeout or (60.0 if quick else 110.0)
    args.storm_timeout = args.storm_timeout or (30.0 if quick else 60.0)
    if args.first_contact is None:
        args.first_contact = 2000 if quick else 19_000
    if args.first_contact < 0:
        p.error("--first-contact must be 0 or more")
    if args.first_contact_only:
        if args.first_contact == 0 or args.health_only:
            p.error("--first-contact-only needs --first-contact > 0 and excludes --health-only")
        args.skip_health = True
    if args.active < 1 or args.chargers < 1 or not 1 <= args.workers <= 250:
        p.error("--chargers and --active must be positive, --workers 1-250 (one source address each)")
    args.active = min(args.active, args.chargers)
    if args.commands is None:
        args.commands = max(1, round(20 * args.duration))
    if args.commands < 0:
        p.error("--commands must be 0 or more")
    args.health_fleet = args.health_fleet or (60 if quick else 400)
    args.health_duration = args.health_duration or (30.0 if quick else 120.0)
    args.health_warmup = args.health_warmup if args.health_warmup is not None else (10.0 if quick else 25.0)
    args.health_reps = args.health_reps or (2 if quick else 5)
    if args.health_only and args.skip_health:
        p.error("--health-only and --skip-health exclude each other")
    if args.health_fleet < 1 or args.health_reps < 1 or args.health_heartbeat < 1 or args.health_workers < 1:
        p.error("--health-fleet, --health-reps, --health-heartbeat and --health-workers must be positive")
    keys = [k.key for k in KINDS]
    args.health_faults = args.health_faults.split(",") if args.health_faults else keys
    if unknown := sorted(set(args.health_faults) - set(keys)):
        p.error(f"--health-faults: no fault {', '.join(unknown)}; there are {', '.join(keys)}")
    check_arguments(p, args)
    for item in args.health_env:
        if not item.startswith("LADDNAT_HEALTH_") or "=" not in item:
            p.error(f"--health-env {item!r}: use LADDNAT_HEALTH_<THRESHOLD>=VALUE")
    return args


# -- results -------------------------------------------------------------------------


@dataclass
class Throughput:
    msgs_per_s: float = 0.0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    server_cores: float = 0.0
    machine_pct: float = 0.0
    gen_cores: float = 0.0
    sat_p50_ms: float | None = None
    paced_ok: int = 0
    paced_errors: dict[str, int] = field(default_factory=dict)
    paced_p50_ms: float | None = None
    paced_p99_ms: float | None = None
    paced_late: int = 0
    paced_scheduled: int = 0
    paced_in_window: int = 0
    chargers: int = 0
    transactions: int = 0
    note: str = ""


@dataclass
class Scale:
    wanted: int = 0
    accepted: int = 0
    connect_s: float = 0.0
    connect_refused: dict[str, int] = field(default_factory=dict)
    connect_failed: dict[str, int] = field(default_factory=dict)
    rss0_kib: int = 0
    rss1_kib: int = 0
    rss2_kib: int = 0
    heartbeats: int = 0
    csms_calls: int = 0
    storm_accepted: int = 0
    storm_s: float | None = None
    storm_p50_s: float | None = None
    storm_refused: dict[str, int] = field(default_factory=dict)
    storm_failed: dict[str, int] = field(default_factory=dict)
    storm_cpu: float = 0.0
    connect_cpu: float = 0.0
    connect_cut: int = 0
    storm_cut: int = 0
    storm_gen_cpu: float = 0.0
    connect_gen_cpu: float = 0.0
    connect_failed_after: dict[str, list[float]] = field(default_factory=dict)
    storm_failed_after: dict[str, list[float]] = field(default_factory=dict)
    listen: dict[str, int] = field(default_factory=dict)
    backlog: int | None = None
    max_accept_queue: int = 0
    max_fds: int = 0
    log: str = ""


@dataclass
class FirstContact:
    """One storm of never-seen chargers onto a bridge process just started."""

    hashes: str  # "argon2id" | "hmac-sha256"
    pinned: bool = False  # the bridge on BRIDGE_CORE alone, the generator on GENERATOR_CORE
    wanted: int = 0
    accepted: int = 0
    all_s: float | None = None
    p50_s: float | None = None
    refused: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    cut: int = 0
    bridge_cores: float = 0.0
    gen_cores: float = 0.0
    csms_calls: int = 0
    current_hashes_after: int = 0
    listen: dict[str, int] = field(default_factory=dict)
    log: str = ""


def merge_counts(results: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r.get(key, {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def merge_lists(results: list[dict[str, Any]], key: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in results:
        for k, v in r.get(key, {}).items():
            out.setdefault(k, []).extend(v)
    return out


def fmt_counts(counts: dict[str, int], after: dict[str, list[float]] | None = None) -> str:
    """``timeout: 12 (after ~30.0 s)``: how many, and the median time an attempt took to fail."""
    parts = []
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        median = pct(after.get(k, []), 50) if after else None
        parts.append(f"{k}: {v}" + (f" (after ~{median:.1f} s)" if median is not None else ""))
    return ", ".join(parts) or "none"


# -- the run -------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="laddnat-bench-"))
        self.run_id = uuid.uuid4().hex[:10]
        # Registered: enough for the scale phase and for the first-contact phase.
        self.registered = [
            BenchCharger(n, f"BENCH-{n:05d}", V201 if n % 10 == 0 else V16)
            for n in range(1, max(args.chargers, args.first_contact) + 1)
        ]
        self.chargers = self.registered[: args.chargers]
        # The active ones speak 1.6: MeterValues carry the transactionId of a StartTransaction.
        self.active = [c for c in self.chargers if c.version == V16][: args.active]
        self.urls: dict[str, str] = {}
        self.pg_database: str | None = None
        self.servers: list[ServerProcess] = []
        self.notes: list[str] = []
        self.baseline: Throughput | None = None
        self.throughput: dict[str, Throughput] = {}
        self.scale: Scale | None = None
        self.scale_db: str | None = None
        self.charger_ids: dict[str, dict[str, uuid.UUID]] = {}  # per database: charge_points.id by identity
        self.command_db: str | None = None
        self.commands: CommandResult | None = None
        self.health: HealthResult | None = None
        self.first_contact: list[FirstContact] = []
        self.scaleout: ScaleOutResult | None = None

    def log(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> int:
        try:
            if not self.args.health_only and not self.args.scaleout_only:
                self.setup()
                if not self.args.first_contact_only:
                    if not self.args.skip_baseline:
                        self.baseline = self.phase_baseline()
                    for db in self.urls:
                        self.throughput[db] = self.phase_throughput(db)
                    if self.scale_db is not None:
                        self.scale = self.phase_scale(self.scale_db)
                if self.scale_db is not None and self.args.first_contact > 0:
                    self.phase_first_contact(self.scale_db)
            if not self.args.skip_scaleout and not self.args.health_only and not self.args.first_contact_only:
                self.scaleout = run_scaleout(
                    self.args, password=PASSWORD, run_id=self.run_id, tmp=self.tmp, log=self.log, servers=self.servers
                )
            if not self.args.skip_health:
                self.health = self.phase_health()
        finally:
            self.cleanup()
        if self.args.health_only:
            print(f"Laddnät bench: {machine_line()}")
        elif self.args.scaleout_only:
            print("\n".join(self.table_lines(self.scaleout_rows())))
        elif self.args.first_contact_only:
            print("\n".join(self.table_lines(self.first_contact_rows())))
        else:
            print(self.table())
        if self.health is not None:
            print("\n" + self.health.tables())
        return 0

    def setup(self) -> None:
        wanted = ["sqlite", "postgres"] if self.args.db == "both" else [self.args.db]
        if "postgres" in wanted:
            why = pg_reachable(self.args.pg_url)
            if why is not None:
                if self.args.db == "postgres":
                    raise SystemExit(f"bench: PostgreSQL at {self.args.pg_url} unreachable: {why}")
                self.notes.append(f"PostgreSQL skipped: {self.args.pg_url} unreachable ({why[:80]})")
                wanted.remove("postgres")
        for db in wanted:
            t0 = time.monotonic()
            if db == "sqlite":
                url = f"sqlite+aiosqlite:///{self.tmp / 'bench.sqlite3'}"
            else:
                self.pg_database = f"laddnat_bench_{self.run_id}"
                url = pg_create(self.args.pg_url, self.pg_database)
            self.urls[db] = url
            migrate(url)
            self.charger_ids[db] = register_chargers(url, self.registered, PASSWORD)
            create_operator(url, OPERATOR_EMAIL, OPERATOR_PASSWORD)
            self.log(
                f"{DB_LABEL[db]}: migrated, {len(self.registered)} chargers registered in {time.monotonic() - t0:.1f} s"
            )
        scale_db = self.args.scale_db or ("postgres" if "postgres" in self.urls else "sqlite")
        self.scale_db = scale_db if scale_db in self.urls else next(iter(self.urls), None)
        self.command_db = "postgres" if "postgres" in self.urls else next(iter(self.urls), None)

    def cleanup(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:  # keep cleaning up
                self.log(f"stopping {server.name}: {exc}")
        if self.args.keep_logs:
            keep = Path(self.args.keep_logs)
            keep.mkdir(parents=True, exist_ok=True)
            for log in self.tmp.glob("*.log"):
                shutil.copy(log, keep / log.name)
        if self.pg_database is not None:
            try:
                pg_drop(self.args.pg_url, self.pg_database)
            except Exception as exc:
                self.log(f"could not drop {self.pg_database}: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, server: ServerProcess) -> ServerProcess:
        self.servers.append(server)
        server.start()
        return server

    def workers(self, server: ServerProcess, chargers: list[BenchCharger], expect_accepted: bool = True) -> Workers:
        n = max(1, min(self.args.workers, len(chargers)))
        specs = [
            WorkerSpec(
                index=i,
                src_ip=f"127.0.0.{2 + i}",
                host=server.host,
                port=server.port,
                password=PASSWORD,
                chargers=[(c.identity, c.version) for c in chargers[i::n]],
                open_timeout_s=self.args.open_timeout,
                expect_accepted=expect_accepted,
            )
            for i in range(n)
        ]
        return Workers(specs)

    def connect(self, workers: Workers, heartbeat: bool = False) -> tuple[list[dict[str, Any]], float]:
        t0 = time.monotonic()
        results = workers.run(
            "connect",
            self.args.connect_timeout + self.args.open_timeout + 30,
            concurrency=self.args.concurrency,
            deadline_s=self.args.connect_timeout,
            heartbeat=heartbeat,
        )
        return results, time.monotonic() - t0

    # -- phases ------------------------------------------------------------------------

    def phase_baseline(self) -> Throughput:
        server = self.server(ServerProcess.baseline(free_port(), self.tmp / "baseline.log"))
        workers = self.workers(server, self.active, expect_accepted=False)
        try:
            results, _ = self.connect(workers)
            result = Throughput(chargers=sum(r["accepted"] for r in results))
            self.saturate(workers, server, result)
            self.log(f"baseline: {result.msgs_per_s:.0f} msg/s")
            return result
        finally:
            workers.close()
            server.stop()

    def phase_throughput(self, db: str) -> Throughput:
        port = free_port()
        server = self.server(
            ServerProcess.bridge(
                self.urls[db], port, self.args.heartbeat, self.tmp / f"bridge-{db}.log", http_port=free_port()
            )
        )
        workers = self.workers(server, self.active)
        try:
            token: str | None = None
            if db == self.command_db and self.args.commands > 0:
                self.commands = CommandResult(db=db, wanted=self.args.commands)
                try:
                    token = sign_in(server.api_url)
                except Exception as exc:  # the row says why; the rest of the run goes on
                    self.commands.error = f"no token: {type(exc).__name__}: {exc}"[:200]
            results, took = self.connect(workers)
            result = Throughput(chargers=sum(r["accepted"] for r in results))
            self.log(f"{DB_LABEL[db]}: {result.chargers} active chargers connected in {took:.1f} s")
            started = workers.run("start_tx", 120)
            result.transactions = sum(r["started"] for r in started)
            self.saturate(workers, server, result, profile=db)
            self.log(f"{DB_LABEL[db]}: {result.msgs_per_s:.0f} msg/s at saturation")
            self.paced(workers, [r["accepted"] for r in results], result, server, db, token)
            self.log(
                f"{DB_LABEL[db]}: p50 {result.paced_p50_ms} ms, p99 {result.paced_p99_ms} ms at {self.args.rate:.0f}/s"
            )
            c = self.commands
            if c is not None and c.db == db:
                self.log(
                    f"{DB_LABEL[db]}: {c.answered}/{c.wanted} commands answered, "
                    f"p50 {_f(_ms(pct(c.latencies, 50)))} ms, p99 {_f(_ms(pct(c.latencies, 99)))} ms"
                    + (f" ({c.error})" if c.error else "")
                )
            result.note = server.log_summary()
            return result
        finally:
            workers.close()
            server.stop()

    def saturate(self, workers: Workers, server: ServerProcess, result: Throughput, profile: str | None = None) -> None:
        args = self.args
        start_at = time.monotonic() + 1.0
        cpu = CpuWindow(pid=server.pid)
        spy = self.start_py_spy(server, profile, start_at + args.warmup, args.duration) if profile else None
        timer = threading.Timer(max(0.0, start_at + args.warmup - time.monotonic()), cpu.start)
        stopper = threading.Timer(max(0.0, start_at + args.warmup + args.duration - time.monotonic()), cpu.stop)
        timer.start()
        stopper.start()
        out = workers.run(
            "saturate",
            args.warmup + args.duration + 60,
            start_at=start_at,
            warmup_s=args.warmup,
            duration_s=args.duration,
        )
        timer.join()
        stopper.join()
        if spy is not None:
            spy.join(args.duration + 30)
        result.ok = sum(r["ok"] for r in out)
        result.msgs_per_s = result.ok / args.duration
        result.errors = merge_counts(out, "errors")
        result.server_cores = cpu.process_cores
        result.machine_pct = cpu.machine_pct
        result.gen_cores = sum(r["cpu_s"] for r in out) / (args.warmup + args.duration + 1.0)
        result.sat_p50_ms = _ms(pct([x for r in out for x in r["latencies"]], 50))

    def paced(
        self,
        workers: Workers,
        per_worker_chargers: list[int],
        result: Throughput,
        server: ServerProcess,
        db: str,
        token: str | None,
    ) -> None:
        """The open-loop window; with a ``token``, the commands go out during it too."""
        args = self.args
        total = max(1, sum(per_worker_chargers))
        start_at = time.monotonic() + 1.0
        probe = None
        if token is not None:
            ids = self.charger_ids[db]
            probe = CommandProbe(
                server.api_url,
                token,
                [ids[c.identity] for c in self.active],
                args.commands,
                start_at=start_at + args.warmup,
                window_s=args.duration,
                db=db,
            )
            probe.start()
        try:
            out = workers.run(
                "paced",
                args.warmup + args.duration + 60,
                per_worker=[{"rate": args.rate * n / total} for n in per_worker_chargers],
                start_at=start_at,
                warmup_s=args.warmup,
                duration_s=args.duration,
            )
        finally:
            if probe is not None:
                self.commands = probe.join()
        latencies = [x for r in out for x in r["latencies"]]
        result.paced_ok = sum(r["ok"] for r in out)
        result.paced_errors = merge_counts(out, "errors")
        result.paced_late = sum(r["late"] for r in out)
        result.paced_scheduled = sum(r["scheduled"] for r in out)
        result.paced_in_window = sum(r["in_window"] for r in out)
        result.paced_p50_ms = _ms(pct(latencies, 50))
        result.paced_p99_ms = _ms(pct(latencies, 99))

    def start_py_spy(self, server: ServerProcess, name: str, at: float, seconds: float) -> threading.Thread | None:
        """With --py-spy DIR: sample the server for ``seconds`` from ``at`` into DIR/bridge-NAME.txt (raw)."""
        if not self.args.py_spy:
            return None
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            self.notes.append("py-spy not installed: no profile")
            return None
        out_dir = Path(self.args.py_spy)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"bridge-{name}.txt"
        argv = [exe, "record", "-o", str(target), "--format", "raw", "-r", "100", "-d", str(max(1, int(seconds)))]
        argv += ["-p", str(server.pid), "--threads", "--nonblocking"]

        def record() -> None:
            time.sleep(max(0.0, at - time.monotonic()))
            subprocess.run(argv, capture_output=True, timeout=seconds + 60, check=False)

        thread = threading.Thread(target=record, daemon=True)
        thread.start()
        self.notes.append(f"py-spy profile of the bridge ({name}): {target}")
        return thread

    def phase_health(self) -> HealthResult:
        """On PostgreSQL when it is part of the run (SQLite otherwise), a database of its own."""
        a = self.args
        if self.urls:
            db = "postgres" if "postgres" in self.urls else "sqlite"
        elif a.db != "sqlite" and pg_reachable(a.pg_url) is None:
            db = "postgres"
        else:
            if a.db == "postgres":
                raise SystemExit(f"bench: PostgreSQL at {a.pg_url} unreachable")
            db = "sqlite"
        options = HealthOptions(
            fleet=a.health_fleet,
            duration_s=a.health_duration,
            reps=a.health_reps,
            heartbeat_s=a.health_heartbeat,
            workers=a.health_workers,
            env=dict(item.split("=", 1) for item in a.health_env),
            warmup_s=a.health_warmup,
            undetected_wait_s=a.health_timeout,
            faults=list(a.health_faults),
        )
        result = run_health(
            options, db=db, pg_url=a.pg_url, run_id=self.run_id, tmp=self.tmp, log=self.log, servers=self.servers
        )
        detected = sum(1 for i in result.injections if i.polled_s is not None)
        self.log(
            f"health: {detected}/{len(result.injections)} faults detected, "
            f"{len(result.false_positives)} false positives"
        )
        return result

    def phase_scale(self, db: str) -> Scale:
        args = self.args
        port = free_port()
        server = self.server(
            ServerProcess.bridge(self.urls[db], port, args.heartbeat, self.tmp / f"bridge-scale-{db}.log")
        )
        scale = Scale(wanted=len(self.chargers))
        queue = listen_queue(port)
        scale.backlog = queue[1] if queue else None
        time.sleep(1.0)
        scale.rss0_kib = rss_kib(server.pid)
        workers = self.workers(server, self.chargers)
        try:
            spy = self.start_py_spy(server, f"connect-{db}", time.monotonic() + 2, min(30.0, args.connect_timeout))
            cpu = CpuWindow(pid=server.pid)
            cpu.start()
            results, scale.connect_s = self.connect(workers, heartbeat=True)
            cpu.stop()
            if spy is not None:
                spy.join(90)
            scale.connect_cpu = cpu.process_cores
            scale.connect_gen_cpu = sum(r["cpu_s"] for r in results) / max(scale.connect_s, 1e-9)
            scale.accepted = sum(r["accepted"] for r in results)
            scale.connect_refused = merge_counts(results, "refused")
            scale.connect_failed = merge_counts(results, "failed")
            scale.connect_failed_after = merge_lists(results, "failed_after")
            scale.connect_cut = sum(r["cut"] for r in results)
            self.log(f"scale ({DB_LABEL[db]}): {scale.accepted}/{scale.wanted} connected in {scale.connect_s:.1f} s")
            time.sleep(args.settle)
            scale.rss1_kib = rss_kib(server.pid)
            counters = workers.run("counters", 30)
            scale.heartbeats = sum(r["heartbeats_ok"] for r in counters)
            scale.csms_calls = sum(r["csms_calls"] for r in counters)

            before = listen_stats()
            sampler = QueueSampler(server.pid, port)
            sampler.start()
            start_at = time.monotonic() + 1.0
            spy = self.start_py_spy(server, f"storm-{db}", start_at + 1, min(30.0, args.storm_timeout))
            cpu = CpuWindow(pid=server.pid)
            cpu.start()
            storm = workers.run(
                "storm", args.storm_timeout + args.open_timeout + 30, start_at=start_at, deadline_s=args.storm_timeout
            )
            cpu.stop()
            sampler.stop()
            if spy is not None:
                spy.join(90)
            after = listen_stats()
            scale.listen = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            scale.max_accept_queue, scale.max_fds = sampler.max_queue, sampler.max_fds
            scale.storm_cpu = cpu.process_cores
            scale.storm_accepted = sum(r["accepted"] for r in storm)
            times = [t for r in storm for t in r["accepted_at"]]
            if scale.storm_accepted == scale.accepted and times:
                scale.storm_s = max(times)
            scale.storm_p50_s = pct(times, 50)
            scale.storm_refused = merge_counts(storm, "refused")
            scale.storm_failed = merge_counts(storm, "failed")
            scale.storm_failed_after = merge_lists(storm, "failed_after")
            scale.storm_cut = sum(r["cut"] for r in storm)
            scale.storm_gen_cpu = sum(r["cpu_s"] for r in storm) / (args.storm_timeout + 1.0)
            scale.rss2_kib = rss_kib(server.pid)
            scale.log = server.log_summary()
            self.log(
                f"storm: {scale.storm_accepted}/{scale.accepted} Accepted, last after "
                f"{max(times) if times else float('nan'):.1f} s"
            )
            return scale
        finally:
            workers.close()
            server.stop()

    def phase_first_contact(self, db: str) -> None:
        """Baseline (argon2id hashes, the format before hmac-sha256) then the current format,
        each storm onto a bridge process of its own, started just before."""
        chargers = self.registered[: self.args.first_contact]
        legacy = PasswordHashing(AuthSettings()).charger.hash(PASSWORD)  # production cost, one for all
        storms: list[tuple[str, Callable[[], str], bool]] = [
            ("argon2id", lambda: legacy, False),
            ("hmac-sha256", lambda: hash_charger_password(PASSWORD), False),
        ]
        if shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2:
            storms.append(("hmac-sha256", lambda: hash_charger_password(PASSWORD), True))
        for hashes, stored, pinned in storms:
            result = self.first_contact_storm(db, chargers, hashes, stored, pinned=pinned)
            self.first_contact.append(result)
            self.log(
                f"first contact ({hashes}{', pinned' if pinned else ''}): {result.accepted}/{result.wanted} "
                f"Accepted, all after {_f(result.all_s)} s; {result.current_hashes_after} hashes hmac-sha256 after"
            )

    def first_contact_storm(
        self, db: str, chargers: list[BenchCharger], hashes: str, stored: Callable[[], str], *, pinned: bool = False
    ) -> FirstContact:
        args = self.args
        result = FirstContact(hashes=hashes, wanted=len(chargers), pinned=pinned)
        log = self.tmp / f"bridge-first-contact-{hashes}{'-pinned' if pinned else ''}-{db}.log"
        process = ServerProcess.bridge(self.urls[db], free_port(), args.heartbeat, log)
        if pinned:
            process.argv = ["taskset", "-c", str(BRIDGE_CORE), *process.argv]
        # Each charger's password hash, and the configuration the lost bridge pushed to it,
        # remembered (as this bridge process computes it from its settings): nothing to push.
        ocpp = Settings.from_env(process.env, dev=True).ocpp
        applied = {v: profile_hash(profile_calls(Version(v), ocpp), FIRMWARE) for v in (V16, V201)}
        set_credentials(self.urls[db], chargers, stored, applied.__getitem__)
        server = self.server(process)
        workers = self.workers(server, chargers)
        if pinned:
            for proc in workers.procs:
                if proc.pid is not None:
                    pin(proc.pid, {GENERATOR_CORE})
        try:
            start_at = time.monotonic() + 1.0
            before = listen_stats()
            seconds = min(20.0, args.first_contact_timeout)
            spy = self.start_py_spy(server, f"first-contact-{hashes}-{db}", start_at, seconds)
            cpu = CpuWindow(pid=server.pid)
            cpu.start()
            storm = workers.run(
                "storm",
                args.first_contact_timeout + args.open_timeout + 30,
                start_at=start_at,
                deadline_s=args.first_contact_timeout,
            )
            cpu.stop()
            if spy is not None:
                spy.join(seconds + 60)
            after = listen_stats()
            result.listen = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            result.bridge_cores = cpu.process_cores
            result.accepted = sum(r["accepted"] for r in storm)
            times = [t for r in storm for t in r["accepted_at"]]
            if result.accepted == result.wanted and times:
                result.all_s = max(times)
            result.p50_s = pct(times, 50)
            result.refused = merge_counts(storm, "refused")
            result.failed = merge_counts(storm, "failed")
            result.cut = sum(r["cut"] for r in storm)
            result.gen_cores = sum(r["cpu_s"] for r in storm) / max(max(times, default=0.0), 1e-9)
            result.csms_calls = sum(r["csms_calls"] for r in workers.run("counters", 30))
            result.log = server.log_summary()
        finally:
            workers.close()
            server.stop()
        result.current_hashes_after = count_current_hashes(self.urls[db])
        return result

    # -- the table ---------------------------------------------------------------------

    def command_rows(self) -> list[tuple[str, str, str, str]]:
        a = self.args
        c = self.commands
        label = DB_LABEL[c.db if c is not None else (self.command_db or "postgres")]
        p50_row, p99_row = ROW_COMMAND_P50.format(db=label), ROW_COMMAND_P99.format(db=label)
        if c is None:
            why = "--commands 0" if a.commands == 0 and self.command_db else "not run"
            return [(p50_row, "n/a", "", why), (p99_row, "n/a", "", "")]
        p50, p99 = _ms(pct(c.latencies, 50)), _ms(pct(c.latencies, 99))
        answers = ", ".join(f"{k} {v}" for k, v in sorted(c.answer_status.items())) or "none"
        detail = (
            f"{c.sent} of {c.wanted} `{COMMAND}` commands (POST /api/v1/operator/chargers/{{id}}/commands/{COMMAND}) "
            f"to random active chargers, evenly over the {a.duration:g} s window of the {a.rate:g} msg/s latency "
            f"phase ({c.wanted / max(c.window_s, 1e-9):.0f}/s), timed send to HTTP response (API -> bus -> bridge "
            f"-> charger -> answer); answered (200) {c.answered} (charger status: {answers}); "
            f"failed {sum(c.failed.values())} ({fmt_counts(dict(c.failed))}); "
            f"p50 {_f(p50)} ms, p99 {_f(p99)} ms; sends late by up to {c.send_lag_max_s * 1000:.0f} ms"
        )
        if c.error:
            detail += f"; error: {c.error}"
        return [(p50_row, _f(p50), "", detail), (p99_row, _f(p99), "", "")]

    def first_contact_rows(self) -> list[tuple[str, str, str, str]]:
        a = self.args
        by = {(r.hashes, r.pinned): r for r in self.first_contact}
        now, base = by.get(("hmac-sha256", False)), by.get(("argon2id", False))
        pinned = by.get(("hmac-sha256", True))
        n = f"{a.first_contact:,}"
        if now is None or base is None:
            why = "--first-contact 0" if a.first_contact == 0 else "not run"
            return [(ROW_FIRST_CONTACT.format(n=n), "n/a", "< 10", why), (ROW_FIRST_CONTACT_BASE, "n/a", "", "")]

        def detail(r: FirstContact) -> str:
            return (
                f"{r.accepted}/{r.wanted} Accepted (median at {_f(r.p50_s)} s) by the {a.first_contact_timeout:g} s "
                f"deadline, {r.cut} cut by it; refused {fmt_counts(r.refused)}; failed {fmt_counts(r.failed)}; "
                f"bridge {r.bridge_cores:.2f} cores, load gen {r.gen_cores:.2f} cores; {r.csms_calls} "
                f"boot-configuration CALLs; {r.current_hashes_after} stored hashes hmac-sha256 afterwards; "
                f"{', '.join(f'{k} +{v}' for k, v in sorted(r.listen.items()) if v) or 'no listen-queue drops'}; "
                f"bridge log: {r.log or 'quiet'}"
            )

        def value(r: FirstContact) -> str:
            return f"{r.all_s:.1f}" if r.all_s is not None else f"> {a.first_contact_timeout:g}"

        label = DB_LABEL[self.scale_db or "sqlite"]
        return [
            (
                ROW_FIRST_CONTACT.format(n=n),
                value(now),
                "< 10",
                f"hmac-sha256 hashes, {label}; a bridge process started just before, every charger with its boot "
                f"configuration applied (as the lost bridge left it), all connect at once from {a.workers} workers; "
                + detail(now),
            ),
            (
                ROW_FIRST_CONTACT_BASE,
                value(base),
                "",
                "the same storm onto another fresh process, each charger's hash argon2id (t=1, m=2 MiB, as before "
                "hmac-sha256), upgraded at its login; " + detail(base),
            ),
            (
                ROW_FIRST_CONTACT_PINNED,
                value(pinned) if pinned is not None else "n/a",
                "< 10",
                (
                    f"the hmac-sha256 storm again, measured as an outside harness does: the fresh bridge under "
                    f"`taskset -c {BRIDGE_CORE}`, the load generator on core {GENERATOR_CORE} (PostgreSQL free to "
                    "use either); " + detail(pinned)
                )
                if pinned is not None
                else "taskset or a second core is missing",
            ),
        ]

    def scaleout_rows(self) -> list[tuple[str, str, str, str]]:
        result = self.scaleout or ScaleOutResult(why_not="--skip-scaleout" if self.args.skip_scaleout else "not run")
        rows = scaleout_rows(result, self.args.rate)
        if result.uptime:
            load = result.uptime.split()[-3].rstrip(",")
            rows.append(("Scale-out: machine load at its start", load, "", result.uptime))
        return rows

    def table_lines(self, rows: list[tuple[str, str, str, str]]) -> list[str]:
        lines = [
            f"Laddnät bench: {machine_line()}",
            "",
            "| measurement | result | target | detail |",
            "| --- | ---: | ---: | --- |",
        ]
        return lines + ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows]

    def table(self) -> str:
        a = self.args
        rows: list[tuple[str, str, str, str]] = []
        s = self.scale
        if s is not None:
            label = DB_LABEL[self.scale_db or "sqlite"]
            rows.append(
                (
                    ROW_CONNECTED,
                    f"{s.accepted}",
                    f"{s.wanted}",
                    f"of {s.wanted} ({sum(1 for c in self.chargers if c.version == V201)} on 2.0.1) on {label} "
                    f"in {s.connect_s:.1f} s ({s.accepted / max(s.connect_s, 1e-9):.0f}/s), {a.workers} workers x "
                    f"{a.concurrency} handshakes in flight; bridge {s.connect_cpu:.2f} cores, load gen "
                    f"{s.connect_gen_cpu:.2f} cores; refused {fmt_counts(s.connect_refused)}; "
                    f"failed {fmt_counts(s.connect_failed, s.connect_failed_after)}; "
                    f"{s.connect_cut} still waiting or cut short at the {a.connect_timeout:g} s deadline; "
                    f"{s.csms_calls} boot-configuration CALLs from the bridge answered; "
                    f"{s.heartbeats} heartbeats answered (interval {a.heartbeat} s)",
                )
            )
            per_conn = (s.rss1_kib - s.rss0_kib) / s.accepted if s.accepted else float("nan")
            rows.append(
                (
                    ROW_RSS,
                    f"{per_conn:.1f}",
                    "<= 25",
                    f"VmRSS {s.rss0_kib / 1024:.1f} MiB before any connection, {s.rss1_kib / 1024:.1f} MiB with "
                    f"{s.accepted} connected, {s.rss2_kib / 1024:.1f} MiB after the storm",
                )
            )
        base = self.baseline
        for db in ("sqlite", "postgres"):
            t = self.throughput.get(db)
            label = DB_LABEL[db]
            if t is None:
                rows.append((ROW_THROUGHPUT.format(db=label), "n/a", "", "not run"))
                continue
            rows.append(
                (
                    ROW_THROUGHPUT.format(db=label),
                    f"{t.msgs_per_s:.0f}",
                    "",
                    f"{t.chargers} chargers ({t.transactions} transactions), one CALL outstanding each, "
                    f"80/10/10 MeterValues/Heartbeat/StatusNotification, {a.duration:g} s window; "
                    f"errors {fmt_counts(t.errors)}; p50 {_f(t.sat_p50_ms)} ms; bridge {t.server_cores:.2f} cores, "
                    f"load gen {t.gen_cores:.2f} cores, machine {t.machine_pct:.0f}% busy",
                )
            )
        if base is not None:
            rows.append(
                (
                    ROW_BASELINE,
                    f"{base.msgs_per_s:.0f}",
                    "",
                    f"same generator and {base.chargers} chargers; errors {fmt_counts(base.errors)}; server "
                    f"{base.server_cores:.2f} cores, load gen {base.gen_cores:.2f} cores, "
                    f"machine {base.machine_pct:.0f}% busy",
                )
            )
        for db in ("sqlite", "postgres"):
            t = self.throughput.get(db)
            label = DB_LABEL[db]
            if t is None or base is None or base.msgs_per_s <= 0:
                rows.append((ROW_RATIO.format(db=label), "n/a", ">= 0.3", "not run"))
            else:
                rows.append((ROW_RATIO.format(db=label), f"{t.msgs_per_s / base.msgs_per_s:.2f}", ">= 0.3", ""))
        rate = f"{a.rate:g}"
        for db in ("sqlite", "postgres"):
            t = self.throughput.get(db)
            label = DB_LABEL[db]
            if t is None:
                rows.append((ROW_P50.format(rate=rate, db=label), "n/a", "", "not run"))
                rows.append((ROW_P99.format(rate=rate, db=label), "n/a", "", "not run"))
                continue
            detail = (
                f"open loop, timed from the scheduled send; {t.paced_ok} of {t.paced_scheduled} scheduled CALLs "
                f"answered (the rest cut 5 s after the window), {t.paced_in_window / a.duration:.0f}/s answered "
                f"in the window, {t.paced_late} sends late; errors {fmt_counts(t.paced_errors)}"
            )
            rows.append((ROW_P50.format(rate=rate, db=label), _f(t.paced_p50_ms), "", detail))
            rows.append((ROW_P99.format(rate=rate, db=label), _f(t.paced_p99_ms), "", ""))
        if s is not None:
            if s.storm_s is not None:
                storm_value = f"{s.storm_s:.1f}"
            else:
                storm_value = f"> {a.storm_timeout:g}"
            rows.append(
                (
                    ROW_STORM_TIME,
                    storm_value,
                    "< 15",
                    f"{s.storm_accepted}/{s.accepted} Accepted (median at {_f(s.storm_p50_s)} s) by the "
                    f"{a.storm_timeout:g} s deadline, {s.storm_cut} attempts cut by it; all drop by RST, then "
                    f"reconnect at once, retry 0.5-1.5 s after a failure, {a.open_timeout:g} s timeout per attempt; "
                    f"bridge {s.storm_cpu:.2f} cores, load gen {s.storm_gen_cpu:.2f} cores",
                )
            )
            rows.append(
                (
                    ROW_STORM_REFUSED,
                    f"{sum(s.storm_refused.values())}",
                    "0",
                    f"HTTP status: {fmt_counts(s.storm_refused)}",
                )
            )
            listen = ", ".join(f"{k} +{v}" for k, v in sorted(s.listen.items()) if v) or "no listen-queue drops"
            rows.append(
                (
                    ROW_STORM_FAILED,
                    f"{sum(s.storm_failed.values())}",
                    "",
                    f"{fmt_counts(s.storm_failed, s.storm_failed_after)}; listen backlog {s.backlog} (somaxconn "
                    f"{read_sysctl('net.core.somaxconn')}), accept queue peak {s.max_accept_queue}, {listen}; "
                    f"bridge fds peak {s.max_fds}; bridge log: {s.log or 'quiet'}",
                )
            )
        else:
            for row in (ROW_CONNECTED, ROW_RSS, ROW_STORM_TIME, ROW_STORM_REFUSED, ROW_STORM_FAILED):
                rows.append((row, "n/a", "", "not run"))
        rows += self.first_contact_rows()
        rows += self.command_rows()
        rows += self.scaleout_rows()
        lines = self.table_lines(rows)
        for db, t in self.throughput.items():
            if t.note:
                lines.append(f"\nbridge log under load ({DB_LABEL[db]}): {t.note}")
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


class QueueSampler:
    """Samples the listener's accept queue and the bridge's open fds while the storm runs."""

    def __init__(self, pid: int, port: int) -> None:
        self.pid, self.port = pid, port
        self.max_queue = 0
        self.max_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import os

        while not self._stop.wait(0.2):
            q = listen_queue(self.port)
            if q is not None:
                self.max_queue = max(self.max_queue, q[0])
            try:
                self.max_fds = max(self.max_fds, len(os.listdir(f"/proc/{self.pid}/fd")))
            except OSError:
                pass


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _f(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    raise_nofile_limit()
    args = parse_args(argv)
    return Bench(args).run()
