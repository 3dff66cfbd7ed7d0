"""The scale-out phase's rows of the bench table: (measurement, result, target, detail)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.commands import COMMAND, CommandResult
from bench.common import pct

if TYPE_CHECKING:
    from bench.scaleout import ScaleOutResult
    from bench.scaleout.network import NetworkResult
    from bench.scaleout.pinned import PinnedResult

Row = tuple[str, str, str, str]

ROW_CONNECTED = "Scale-out: chargers on 2 bridges, connected + booted"
ROW_RSS = "Scale-out: bridge RSS per connection (KiB)"
ROW_COMMAND_P50 = "Scale-out: command round trip p50, API -> NATS -> bridge (ms)"
ROW_COMMAND_P99 = "Scale-out: command round trip p99, API -> NATS -> bridge (ms)"
ROW_P50 = "Scale-out: reply latency p50 at {rate} msg/s (ms)"
ROW_P99 = "Scale-out: reply latency p99 at {rate} msg/s (ms)"
ROW_STORED = "Scale-out: JetStream events stored (/s)"
ROW_CONSUMED = "Scale-out: JetStream events handled by consumers (/s)"
ROW_DRAIN = "Scale-out: consumers catching up, events acked (/s)"
ROW_STORM = "Scale-out: kill -9 of a bridge, its chargers all Accepted on a fresh bridge after (s)"
ROW_PINNED = "Pinned throughput, {label} (msg/s)"
ROW_PINNED_RATIO = "Pinned throughput / raw websockets, {label}"
ROW_PROJECTED = "Projected: 2 bridges a core each (msg/s, extrapolated)"


def _f(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _ms(values: list[float], q: float) -> float | None:
    v = pct(values, q)
    return None if v is None else v * 1000.0


def _commands(c: CommandResult) -> str:
    answers = ", ".join(f"{k} {v}" for k, v in sorted(c.answer_status.items())) or "none"
    return (
        f"{c.answered} of {c.wanted} `{COMMAND}` answered (charger status: {answers}), failed "
        f"{sum(c.failed.values())} ({_counts(dict(c.failed))})" + (f"; error: {c.error}" if c.error else "")
    )


def network_rows(n: NetworkResult | None, rate: float, why: str) -> list[Row]:
    r = f"{rate:g}"
    names = [ROW_CONNECTED, ROW_RSS, ROW_COMMAND_P50, ROW_COMMAND_P99]
    names += [ROW_P50.format(rate=r), ROW_P99.format(rate=r), ROW_STORED, ROW_CONSUMED, ROW_DRAIN, ROW_STORM]
    if n is None:
        return [(name, "n/a", "", why if i == 0 else "") for i, name in enumerate(names)]
    rows: list[Row] = []
    accepted = sum(n.accepted.values())
    per_bridge = ", ".join(f"{k} {v}" for k, v in n.accepted.items())
    rows.append(
        (
            ROW_CONNECTED,
            f"{accepted}",
            f"{n.wanted}",
            f"{per_bridge}; all at once in {n.connect_s:.1f} s ({accepted / max(n.connect_s, 1e-9):.0f}/s), first "
            f"boot (configuration pushed); refused {_counts(n.connect_refused)}; failed {_counts(n.connect_failed)}; "
            f"{n.connect_cut} cut by the deadline; "
            f"CPU: {n.connect_cpu}",
        )
    )
    per_conn = [
        (n.rss1_kib[b] - n.rss0_kib[b]) / n.accepted[b] for b in n.rss1_kib if n.accepted.get(b) and b in n.rss0_kib
    ]
    value = sum(per_conn) / len(per_conn) if per_conn else None
    rss = ", ".join(f"{b} {n.rss0_kib.get(b, 0) / 1024:.0f} -> {v / 1024:.0f} MiB" for b, v in n.rss1_kib.items())
    per_gb = f"; about {1024 * 1024 / value:,.0f} chargers per GiB of bridge memory" if value else ""
    rows.append((ROW_RSS, _f(value), "<= 25", f"VmRSS before -> with its chargers: {rss}{per_gb}"))
    c = n.commands
    if c is None:
        rows += [(ROW_COMMAND_P50, "n/a", "", "--commands 0"), (ROW_COMMAND_P99, "n/a", "", "")]
    else:
        p50, p99 = _ms(c.latencies, 50), _ms(c.latencies, 99)
        rows.append(
            (
                ROW_COMMAND_P50,
                _f(p50),
                "",
                f"through `laddnat api` (it holds no charger: every command is looked up in the NATS KV registry "
                f"and sent to the holding bridge's subject) to random active chargers of both bridges, evenly over "
                f"the {r} msg/s window; " + _commands(c),
            )
        )
        rows.append((ROW_COMMAND_P99, _f(p99), "", ""))
    rows.append(
        (
            ROW_P50.format(rate=r),
            _f(n.paced_p50_ms),
            "",
            f"open loop over both bridges' active chargers ({n.transactions} transactions), the throughput mix, "
            f"{accepted - n.transactions} idle chargers heartbeating besides; {n.paced_ok} of {n.paced_scheduled} "
            f"scheduled CALLs answered, {n.paced_cut} chargers still waiting 15 s after the window (cut); errors "
            f"{_counts(n.paced_errors)}; CPU: {n.paced_cpu}",
        )
    )
    rows.append((ROW_P99.format(rate=r), _f(n.paced_p99_ms), "", ""))
    js = n.jetstream
    if js is None:
        rows += [(ROW_STORED, "n/a", "", "no reading"), (ROW_CONSUMED, "n/a", "", "")]
    else:
        rows.append(
            (
                ROW_STORED,
                _f(js.published),
                "",
                f"stream LADDNAT_EVENTS during the {r} msg/s window (nats-server /jsz, last sequence); "
                f"registry (KV) writes {js.registry_writes:.1f}/s; {js.bytes_per_event:.0f} bytes stored per event "
                f"(kept 7 days: the stream's disk is events/s x that x 604,800)",
            )
        )
        rows.append(
            (
                ROW_CONSUMED,
                _f(js.consumed),
                "",
                f"acks of the {js.consumers} durable consumers (an event several groups take counts once per "
                f"group); {js.pending_after} not yet delivered at the window's end",
            )
        )
    d = n.drain
    if d is None:
        rows.append((ROW_DRAIN, "n/a", "", "nothing was waiting after the window"))
    else:
        per_core = f" ({d.consumed / n.drain_worker_cores:.0f} per worker core)" if n.drain_worker_cores > 0 else ""
        rows.append(
            (
                ROW_DRAIN,
                _f(d.consumed),
                "",
                f"right after the window, while events still waited ({d.pending_after} left after 5 s): the "
                f"consumers' own pace, worker {n.drain_worker_cores:.2f} cores{per_core}; most acks are the "
                f"`health` leader's (every durable event)",
            )
        )
    rows.append(_storm_row(n))
    return rows


def _storm_row(n: NetworkResult) -> Row:
    value = _f(n.storm_all_s) if n.storm_all_s is not None else "> deadline"
    moved = _commands(n.moved_commands) if n.moved_commands else "none sent"
    registry = f"{n.storm_jetstream.registry_writes:.0f}" if n.storm_jetstream else "n/a"
    return (
        ROW_STORM,
        value,
        "< 10",
        f"{n.storm_accepted}/{n.storm_wanted} Accepted (median at {_f(n.storm_p50_s)} s), timed from the SIGKILL; "
        f"started once the consumers had caught up with the load before ({n.settle_s:.0f} s after it, "
        f"{n.settle_left} events left); "
        f"the fresh `laddnat bridge` started just before ({n.fresh_bridge_start_s:.1f} s to listen), no "
        f"credential cache; refused {_counts(n.storm_refused)}; failed {_counts(n.storm_failed)}; "
        f"{n.storm_cut} cut by the deadline; 10 %, 20 % ... 90 % Accepted after {n.storm_deciles} s; "
        f"listen queues: {_counts(n.storm_listen)}; registry writes {registry}/s; CPU: {n.storm_cpu}; "
        f"then commands to the moved active chargers: {moved}",
    )


def _per_core(p: PinnedResult) -> float:
    return p.msgs_per_s / p.server_cores


def pinned_rows(results: list[PinnedResult], why: str) -> list[Row]:
    if not results:
        return [(ROW_PINNED.format(label="1 bridge"), "n/a", "", why or "--scaleout-pinned 0")]
    rows: list[Row] = []
    base = next((p for p in results if p.config.bridges == 0), None)
    for p in results:
        js = f"; JetStream {p.published_per_s:.0f} events stored/s" if p.published_per_s is not None else ""
        per_core = f"{_per_core(p):.0f} msg/s per core the server used; " if p.server_cores > 0 else ""
        rows.append(
            (
                ROW_PINNED.format(label=p.config.label),
                f"{p.msgs_per_s:.0f}",
                "",
                f"{per_core}{p.chargers} chargers ({p.transactions} transactions), closed loop, MeterValues of 4 "
                f"samples each with a timestamp of its own; errors {_counts(p.errors)}; p50 {_f(p.p50_ms)} ms; "
                f"CPU: {p.cpu}{js}" + (f"; log: {p.logs}" if p.logs else ""),
            )
        )
    for p in results:
        if p.config.bridges == 0:
            continue
        ratio = f"{p.msgs_per_s / base.msgs_per_s:.2f}" if base and base.msgs_per_s > 0 else "n/a"
        detail = ""
        if base and base.server_cores > 0 and p.server_cores > 0:
            detail = (
                f"per core each used (a fairer figure on a busy machine): {_per_core(p):.0f} / "
                f"{_per_core(base):.0f} = {_per_core(p) / _per_core(base):.2f}"
            )
        rows.append((ROW_PINNED_RATIO.format(label=p.config.label), ratio, ">= 0.3", detail))
    one = next((p for p in results if p.config.key == "one"), None)
    if one is not None and one.server_cores > 0:
        per_core = one.msgs_per_s / one.server_cores
        rows.append(
            (
                ROW_PROJECTED,
                f"{2 * per_core:.0f}",
                "",
                f"not measured: 2 x the one pinned bridge's {per_core:.0f} msg/s per core it used "
                f"({one.msgs_per_s:.0f} msg/s at {one.server_cores:.2f} cores), on a machine with a core per bridge "
                f"and the generator, PostgreSQL and NATS elsewhere; holds while they keep up",
            )
        )
    return rows


def scaleout_rows(result: ScaleOutResult, rate: float) -> list[Row]:
    why = result.why_not or result.error or "not run"
    rows = pinned_rows(result.pinned, why) + network_rows(result.network, rate, why)
    if result.error and result.network is not None:
        rows.append(("Scale-out: broke off", "error", "", result.error))
    return rows
