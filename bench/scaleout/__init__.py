"""The scale-out phase of `make bench` (issue 16): many processes on NATS JetStream + PostgreSQL.

On a database of its own and a ``nats-server -js`` the bench starts on free ports:

1. pinned throughput (bench/scaleout/pinned.py): the raw websockets server, one bridge and two
   bridges, each pinned with ``taskset``, the generator on the other core; 4-sample MeterValues.
2. the network (bench/scaleout/network.py): two bridges holding ``--scaleout-chargers``
   chargers between them (38,000: past one process's file limit), one ``laddnat api`` and one
   ``laddnat worker --health --payments --webhooks``; the command round trip through the API
   under the open-loop load, JetStream's events per second, then one bridge killed with
   SIGKILL and its chargers onto a bridge process just started.

Needs PostgreSQL (several processes share one database) and an installed ``nats-server``;
without either the phase says why in the table and the run goes on.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.commands import OPERATOR_EMAIL, OPERATOR_PASSWORD
from bench.db import BenchCharger, create_operator, migrate, pg_create, pg_drop, pg_reachable, register_chargers
from bench.loadgen import V16, V201
from bench.nats import NATS_SERVER, NatsServer
from bench.procs import ServerProcess
from bench.scaleout.network import NetworkOptions, NetworkPhase, NetworkResult
from bench.scaleout.pinned import PinnedPhase, PinnedResult, configs, two_cores
from bench.scaleout.stack import Stack
from bench.scaleout.table import scaleout_rows

__all__ = ["ScaleOutResult", "add_arguments", "check_arguments", "run_scaleout", "scaleout_rows"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scale-out phase (bench/scaleout/): bridges, API and worker on NATS + PostgreSQL")
    g.add_argument("--scaleout-only", action="store_true", help="run the scale-out phase alone")
    g.add_argument("--skip-scaleout", action="store_true", help="leave the scale-out phase out")
    g.add_argument(
        "--scaleout-chargers", type=int, help="chargers on the two bridges together (default 38000; quick 400)"
    )
    g.add_argument(
        "--scaleout-pinned",
        type=int,
        help="chargers per server in the pinned throughput runs (default 500; quick 60; 0: skip them)",
    )
    g.add_argument(
        "--scaleout-connect-timeout", type=float, help="deadline for connecting them all (default 240 s; quick 60)"
    )


def check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    quick = args.quick
    args.scaleout_chargers = args.scaleout_chargers or (400 if quick else 38_000)
    if args.scaleout_pinned is None:
        args.scaleout_pinned = 60 if quick else 500
    args.scaleout_connect_timeout = args.scaleout_connect_timeout or (60.0 if quick else 240.0)
    if args.scaleout_chargers < 2 or args.scaleout_pinned < 0:
        p.error("--scaleout-chargers must be 2 or more, --scaleout-pinned 0 or more")
    if args.scaleout_only and args.skip_scaleout:
        p.error("--scaleout-only and --skip-scaleout exclude each other")
    if args.scaleout_only and (args.health_only or args.first_contact_only):
        p.error("--scaleout-only excludes --health-only and --first-contact-only")
    if args.scaleout_only:
        args.skip_health = True


@dataclass
class ScaleOutResult:
    network: NetworkResult | None = None
    pinned: list[PinnedResult] = field(default_factory=list)
    why_not: str = ""  # the phase did not run: why
    error: str = ""  # it broke off: why (what it measured until then stays)
    uptime: str = ""  # the machine's load when it started


def _uptime() -> str:
    try:
        with open("/proc/loadavg") as f:
            return "load average " + ", ".join(f.read().split()[:3])
    except OSError:
        return ""


def run_scaleout(
    args: argparse.Namespace,
    *,
    password: str,
    run_id: str,
    tmp: Path,
    log: Callable[[str], None],
    servers: list[ServerProcess],
) -> ScaleOutResult:
    result = ScaleOutResult(uptime=_uptime())
    if args.db == "sqlite":
        result.why_not = "needs PostgreSQL (--db postgres or both)"
        return result
    if NATS_SERVER is None:
        result.why_not = "nats-server is not installed"
        return result
    if shutil.which("taskset") is None and args.scaleout_pinned > 0:
        result.why_not = "taskset is not installed"
        return result
    if (why := pg_reachable(args.pg_url)) is not None:
        result.why_not = f"PostgreSQL at {args.pg_url} unreachable: {why[:80]}"
        return result
    n, per = args.scaleout_chargers, args.scaleout_pinned
    cores = two_cores()
    plan = configs(cores) if cores and per > 0 else []
    network = [BenchCharger(i, f"SCALE-{i:05d}", V201 if i % 10 == 0 else V16) for i in range(1, n + 1)]
    pinned_n = sum(max(1, c.bridges) for c in plan) * per
    pinned = [BenchCharger(n + i, f"PIN-{i:05d}", V16) for i in range(1, pinned_n + 1)]
    name = f"laddnat_bench_{run_id}_scaleout"
    t0 = time.monotonic()
    url = pg_create(args.pg_url, name)
    nats = NatsServer(tmp / "scaleout-nats", tmp / "scaleout-nats.log")
    try:
        migrate(url)
        ids = register_chargers(url, [*network, *pinned], password)
        create_operator(url, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        log(f"scale-out: {len(network) + len(pinned)} chargers registered in {time.monotonic() - t0:.1f} s")
        nats.start()
        stack = Stack(url, nats.url, tmp, args.heartbeat, servers)
        try:
            phase = PinnedPhase(
                stack, nats, password, (args.pg_url, name), args.warmup, args.duration, args.open_timeout, log
            )
            at = 0
            for config in plan:
                groups = []
                for _ in range(max(1, config.bridges)):
                    groups.append(pinned[at : at + per])
                    at += per
                result.pinned.append(phase.run(config, groups))
            options = NetworkOptions(
                chargers=n,
                active=min(args.active, n // 2 * 2),
                rate=args.rate,
                commands=args.commands,
                warmup_s=args.warmup,
                duration_s=args.duration,
                password=password,
                open_timeout_s=args.open_timeout,
                connect_timeout_s=args.scaleout_connect_timeout,
                storm_timeout_s=args.storm_timeout,
                concurrency=args.concurrency,
            )
            net = NetworkPhase(options, stack, nats, network, ids, args.pg_url, name, log)
            try:
                net.run()
            finally:
                if net.result.accepted:  # it got as far as connecting: what it measured stands
                    result.network = net.result
        except Exception as exc:  # the table says what broke; the run's other phases stand
            result.error = f"{type(exc).__name__}: {exc}"[:300]
            log(f"scale-out broke off: {result.error}")
    finally:
        for server in servers:  # stopping one already stopped does nothing
            server.stop()
        nats.stop()
        try:
            pg_drop(args.pg_url, name)
        except Exception as exc:
            log(f"could not drop {name}: {exc}")
    return result
