"""What the health phase measured, and its tables: detection, the corpus, the confidence
calibration, false positives."""

from __future__ import annotations

import resource
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.settings import HealthSettings
from bench.common import pct
from bench.health.corpus import CONCURRENCY as CORPUS_CONCURRENCY
from bench.health.corpus import CorpusRun
from bench.health.faults import KINDS, TABLE_ORDER, FaultKind, Onset
from devtools.simulator import SimulatedCharger

POLL_S = 0.05
# After the fleet starts, before the first fault: every fleet charger has had its first
# session (the monitor reads a charger's ratings then), so faults meet a steady state.
WARMUP_S = 25.0
ERROR_TARGET_S = 1.0
# Among incidents this confident, at least this share must name the right cause (issue 14).
CONFIDENT = 0.8
CALIBRATION_TARGET = 0.8
# The calibration table's bins: [low, high) of confidence.
CONFIDENCE_BINS = (
    (0.0, 0.5, "< 0.5"),
    (0.5, CONFIDENT, f"0.5 - {CONFIDENT:g}"),
    (CONFIDENT, 1.01, f">= {CONFIDENT:g}"),
)


@dataclass
class HealthOptions:
    fleet: int
    duration_s: float  # the fleet's active window
    reps: int
    heartbeat_s: int
    workers: int
    env: dict[str, str] = field(default_factory=dict)  # LADDNAT_HEALTH_* for the server (none: its defaults)
    warmup_s: float = WARMUP_S
    undetected_wait_s: float = 30.0  # how long a fault without a target is waited for
    faults: list[str] = field(default_factory=lambda: [k.key for k in KINDS])  # which to inject
    seed: int = 1
    corpus: bool = True  # run every scripted fault and healthy routine once (bench/health/corpus.py)


@dataclass
class Injection:
    fault: FaultKind
    rep: int
    identity: str
    location_id: uuid.UUID
    site: list[str]  # the other chargers of its site
    sim: SimulatedCharger | None = None
    neighbours: list[SimulatedCharger] = field(default_factory=list)
    onset: Onset | None = None
    polled_s: float | None = None
    webhook_s: float | None = None
    opened_s: float | None = None
    incident: dict[str, Any] | None = None  # the first it opened, as the API lists it at the end
    error: str = ""

    @property
    def right_cause(self) -> bool:
        return self.incident is not None and self.incident.get("cause") == self.fault.cause_of(self.rep)

    def matches(self, item: dict[str, Any]) -> bool:
        """The incident this fault must open."""
        if item.get("kind") != self.fault.kind:
            return False
        if self.fault.whole_site:
            return bool(item.get("site")) and item.get("locationId") == str(self.location_id)
        return not item.get("site") and item.get("chargerIdentity") == self.identity

    def owns(self, item: dict[str, Any]) -> bool:
        """Any incident this fault may have caused (on its faulty chargers, or its dark site)."""
        if item.get("site"):
            return self.fault.whole_site and item.get("locationId") == str(self.location_id)
        faulty = {self.identity, *self.site} if self.fault.whole_site else {self.identity}
        return item.get("chargerIdentity") in faulty


@dataclass
class HealthResult:
    db: str
    heartbeat_s: int
    h: HealthSettings
    options: HealthOptions
    injections: list[Injection] = field(default_factory=list)
    corpus: list[CorpusRun] = field(default_factory=list)
    corpus_s: float = 0.0  # the corpus step's length
    corpus_caused: Counter[str] = field(default_factory=Counter)  # incidents on the corpus's fault sites
    routine_incidents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # healthy routine -> its
    fleet: dict[str, Any] = field(default_factory=dict)
    fleet_chargers: int = 0
    fleet_v201: int = 0
    fleet_sites: int = 0
    fleet_connect_s: float = 0.0
    incidents: int = 0
    caused: Counter[str] = field(default_factory=Counter)  # by the injected faults, by kind
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)  # offline on a faulty charger that never went
    also: dict[str, Counter[str]] = field(default_factory=dict)  # fault key -> other kinds on its chargers
    server_cores: float = 0.0
    fleet_cores: float = 0.0  # the fleet's processes
    bench_cores: float = 0.0  # this process: the faulty chargers, the poller, the webhook receiver
    machine_pct: float = 0.0
    window_s: float = 0.0
    polls: int = 0
    poll_p50_ms: float | None = None
    webhooks: int = 0
    server_log: str = ""
    sim_warnings: Counter[str] = field(default_factory=Counter)  # the faulty chargers' (and neighbours')
    error: str = ""

    # -- the tables ------------------------------------------------------------------------

    def target_s(self, fault: FaultKind) -> float | None:
        if fault.target == "error":
            return ERROR_TARGET_S
        if fault.target == "offline":
            return 2.0 * self.heartbeat_s + 10.0
        return None

    def floor(self, fault: FaultKind) -> str:
        """What the detector's design alone costs, at these thresholds."""
        h = self.h
        window = f" + the {h.site_window_s:g} s site window"
        tick = f"the {h.tick_interval_s:g} s tick"
        # Offline waits for no site window (its dark siblings are dark by then).
        if fault.kind == "offline" and fault.key.startswith("silent"):
            return f"2 x {self.heartbeat_s} s heartbeat + {h.offline_grace_s:g} s grace, on {tick}"
        if fault.kind == "offline":  # a closed socket: its reconnect window
            reconnect = h.reconnect_grace_s
            if reconnect is None:
                return f"{self.heartbeat_s} s heartbeat + {h.offline_grace_s:g} s grace, on {tick}"
            return f"{min(reconnect, 2 * self.heartbeat_s + h.offline_grace_s):g} s reconnect window, on {tick}"
        if fault.kind == "power_supply":
            return f"{h.supply_samples} samples in a row ({h.supply_samples - 1} x 1 s here){window}"
        if fault.kind == "metering":
            return f"{h.stuck_samples} samples not rising ({h.stuck_samples - 1} x 1 s here)"
        if fault.kind == "boot_loop":
            return f"boot number {h.boot_loop_count} within {h.boot_loop_window_s:g} s"
        return "the one message"

    def detection_table(self) -> str:
        o = self.options
        lines = [
            f"Fault detection on {self.db}: `laddnat run`, heartbeat interval {self.heartbeat_s} s, health "
            f"thresholds {'as set' if o.env else 'at their defaults'}{self.remote_start_note()} "
            f"(offline grace {self.h.offline_grace_s:g} s, "
            f"site window {self.h.site_window_s:g} s, tick {self.h.tick_interval_s:g} s); {o.reps} chargers per "
            f"fault, each on "
            f"a site with healthy neighbours, injected while {self.fleet_chargers} healthy chargers run; time from "
            f"the fault's onset (its first message, or the last before silence) to the incident in "
            f"GET /api/v1/operator/incidents (polled every {POLL_S * 1000:.0f} ms); samples 1 s apart:",
            "",
            "| fault | detected | p50 (s) | max (s) | target (s) | met | right cause | detail |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
        ]
        for fault in sorted(KINDS, key=lambda k: TABLE_ORDER.index(k.key)):
            runs = [i for i in self.injections if i.fault is fault]
            if not runs:
                continue
            polled = [i.polled_s for i in runs if i.polled_s is not None]
            webhook = [i.webhook_s for i in runs if i.webhook_s is not None]
            opened = [i.opened_s for i in runs if i.opened_s is not None]
            target = self.target_s(fault)
            worst = max(polled) if polled else None
            if target is None:
                met = ""
            elif len(polled) == len(runs) and worst is not None and worst <= target:
                met = "met"
            else:
                met = "missed"
            errors = Counter(i.error for i in runs if i.error)
            notes = sorted({i.onset.note for i in runs if i.onset is not None and i.onset.note})
            answered = [i.onset.answered - i.onset.mono for i in runs if i.onset and i.onset.answered]
            detail = [
                f"webhook p50 {_s(pct(webhook, 50))}, max {_s(max(webhook) if webhook else None)}",
                f"openedAt p50 {_s(pct(opened, 50))}, max {_s(max(opened) if opened else None)}",
                f"floor: {self.floor(fault)}",
            ]
            if answered:
                detail.insert(
                    2,
                    f"the decisive message answered p50 {_s(pct(answered, 50))}, max {_s(max(answered))} "
                    "after the onset",
                )
            wrong = Counter(
                f"{i.incident.get('cause')} for {i.fault.cause_of(i.rep)}"
                for i in runs
                if i.incident is not None and not i.right_cause
            )
            if wrong:
                detail.append("wrong cause: " + ", ".join(f"{k} ({v})" for k, v in sorted(wrong.items())))
            also = self.also.get(fault.key)
            if also:
                kinds = ", ".join(f"{k} {v}" for k, v in sorted(also.items()))
                detail.append(f"also opened on these chargers: {kinds}")
            detail += notes
            if errors:
                detail.append("failed to inject: " + ", ".join(f"{k} ({v})" for k, v in errors.items()))
            lines.append(
                "| "
                + " | ".join(
                    _cell(x)
                    for x in (
                        fault.label,
                        f"{len(polled)}/{len(runs)}",
                        _s(pct(polled, 50)),
                        _s(worst),
                        "" if target is None else f"<= {target:g}",
                        met,
                        f"{sum(1 for i in runs if i.right_cause)}/{len(runs)}",
                        "; ".join(detail),
                    )
                )
                + " |"
            )
        return "\n".join(lines)

    def remote_start_note(self) -> str:
        if not self.corpus or "LADDNAT_HEALTH_REMOTE_START_TIMEOUT_S" in self.options.env:
            return ""
        return (
            f", but the remote-start timeout {self.h.remote_start_timeout_s:g} s for the corpus's remote-start "
            "faults (nothing else here sends a remote start)"
        )

    def corpus_table(self) -> str:
        """Every scripted fault once, by the incident kind it must open; the healthy routines."""
        faults = [run for run in self.corpus if run.fault is not None]
        routines = [run for run in self.corpus if run.fault is None]
        if not faults and not routines:
            return ""
        lines = [
            f"The corpus (devtools/simulator/faults.py) on the same server, at the same thresholds, in "
            f"{self.corpus_s:.0f} s: each of {len(faults)} scripted faults once and each of {len(routines)} healthy "
            f"routines once, each on a site of its own (a charger model of its own), up to {CORPUS_CONCURRENCY} at "
            f"a time; a fault's answer is the first incident its site opened (within two heartbeat intervals, the "
            f"grace, the site window and a margin), judged against the fault's own kind and cause:",
            "",
            "| expected kind | faults | detected | right kind | right cause | wrong or missed |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        kinds = sorted({run.fault.kind for run in faults if run.fault is not None})
        for kind in [*kinds, ""]:
            runs = [run for run in faults if run.fault is not None and (not kind or run.fault.kind == kind)]
            found = sum(1 for run in runs if run.incident is not None)
            right = sum(1 for run in runs if run.right_cause)
            kinds_right = sum(1 for run in runs if run.right_kind)
            if kind:
                misses = "; ".join(_miss(run) for run in runs if run.error or not (run.right_cause and run.right_kind))
                cells = [kind, f"{len(runs)}", f"{found}", f"{kinds_right}", f"{right}", misses]
            else:
                v201 = sum(1 for run in runs if run.script.version != "1.6")
                cells = [
                    f"all faults ({len(runs) - v201} on 1.6, {v201} on 2.0.1)",
                    f"{len(runs)}",
                    f"{found} ({_share(found, len(runs))})",
                    f"{kinds_right} ({_share(kinds_right, len(runs))})",
                    f"{right} ({_share(right, len(runs))})",
                    "detection rate, right-kind rate, right-cause rate",
                ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        noisy = sorted(run.script.name for run in routines if run.script.name in self.routine_incidents)
        errors = [f"{run.script.name}: {run.error}" for run in routines if run.error]
        detail = (
            ", ".join(f"{name}: {', '.join(why(i) for i in self.routine_incidents[name])}" for name in noisy) or "none"
        )
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    "healthy routines with incidents",
                    f"{len(routines)}",
                    f"{len(noisy)}",
                    "",
                    "",
                    detail + (f"; failed to run: {'; '.join(errors)}" if errors else ""),
                )
            )
            + " |"
        )
        return "\n".join(lines)

    def judged(self) -> list[tuple[float, bool]]:
        """Every incident the health phase judged, (confidence, names the right cause): each
        timed fault's and each corpus fault's first; a healthy charger's is never right."""
        out = [(float(i.incident["confidence"]), i.right_cause) for i in self.injections if i.incident is not None]
        out += [(float(run.incident["confidence"]), run.right_cause) for run in self.corpus if run.incident]
        out += [(float(i.get("confidence") or 0.0), False) for i in self.false_positives]
        return out

    def calibration_table(self) -> str:
        """Is ``confidence`` what it says: the share of right causes per confidence bin."""
        judged = self.judged()
        if not judged:
            return ""
        lines = [
            f"Confidence calibration: {len(judged)} incidents (each timed fault's first, each corpus fault's first, "
            f"and every false positive, which is never right), by their `confidence`; right: the incident names the "
            f"fault's own root cause:",
            "",
            "| confidence | incidents | right cause | share | target | met |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for low, high, label in CONFIDENCE_BINS:
            in_bin = [right for confidence, right in judged if low <= confidence < high]
            right = sum(in_bin)
            share = right / len(in_bin) if in_bin else None
            target, met = "", ""
            if low == CONFIDENT:
                target = f">= {CALIBRATION_TARGET:g}"
                met = "met" if share is not None and share >= CALIBRATION_TARGET else "missed"
            cells = [label, f"{len(in_bin)}", f"{right}", _s(share), target, met]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        right = sum(1 for _, r in judged if r)
        lines.append(f"| all | {len(judged)} | {right} | {_s(right / len(judged))} |  |  |")
        return "\n".join(lines)

    def false_positive_table(self) -> str:
        f = self.fleet
        fp = Counter(f"{i.get('kind')}{'/' + i['topic'] if i.get('topic') else ''}" for i in self.false_positives)
        examples = "; ".join(
            f"{i.get('chargerIdentity')}: {str(i.get('summary'))[:90]}" for i in self.false_positives[:3]
        )
        events = f.get("events") or {}
        on = Counter(events.get(str(i.get("chargerIdentity")), "nothing special") for i in self.false_positives)
        errors = sum((f.get("errors") or {}).values())
        warnings = Counter(f.get("warnings") or {}) + self.sim_warnings
        rows = [
            (
                "False positives: incidents on healthy chargers",
                f"{len(self.false_positives)}",
                "0",
                (
                    f"by kind: {', '.join(f'{k} {v}' for k, v in fp.most_common()) or 'none'}"
                    + (
                        f"; of them on the corpus's {sum(1 for r in self.corpus if r.fault is None)} healthy "
                        f"routines: {sum(len(v) for v in self.routine_incidents.values())}"
                        if self.corpus
                        else ""
                    )
                    + (f"; on chargers that did: {_counts(dict(on))}" if on else "")
                    + (f" (e.g. {examples})" if examples else "")
                    + f"; {self.fleet_chargers} chargers ({self.fleet_v201} on 2.0.1) on {self.fleet_sites} sites, "
                    f"connected in {self.fleet_connect_s:.1f} s, {self.options.duration_s:g} s of sessions then "
                    f"{self.settle_s():g} s idle; {f.get('sessions', 0)} sessions ({f.get('pauses', 0)} cars full "
                    f"before the end), {f.get('meter_values', 0)} meter values in sessions and "
                    f"{f.get('idle_meter_values', 0)} idle, {f.get('heartbeats', 0)} heartbeats, "
                    f"{f.get('reboots', 0)} reboots (1-3 s down), {f.get('new_sockets', 0)} network changes (a new "
                    f"socket before the old one closed); voltage {_range(f.get('volts'))} V, temperature "
                    f"up to {f.get('max_celsius', 0):.0f} degC; the healthy neighbours of the faulty chargers count "
                    f"too; fleet errors {errors}"
                    + (f" ({_counts(f.get('errors'))})" if errors else "")
                    + f"; simulator warnings {sum(warnings.values())}"
                    + (f" ({_counts(warnings)})" if warnings else "")
                ),
            ),
            (
                "False positives: offline on the faulty chargers",
                f"{len(self.wrong)}",
                "0",
                "offline incidents on chargers whose fault never took them off the network (a self-healing "
                "reset reconnects them within milliseconds); "
                + (
                    f"still open at the end: {sum(1 for i in self.wrong if i.get('state') != 'resolved')}"
                    if self.wrong
                    else "none"
                ),
            ),
            (
                "Incidents the injected faults opened",
                f"{sum(self.caused.values())}",
                "",
                f"{', '.join(f'{k} {v}' for k, v in sorted(self.caused.items())) or 'none'}; "
                + (
                    f"the corpus's faults {sum(self.corpus_caused.values())} more "
                    f"({', '.join(f'{k} {v}' for k, v in sorted(self.corpus_caused.items()))}); "
                    if self.corpus
                    else ""
                )
                + f"{self.incidents} incidents in all; self-healing on (playbooks may act on them)",
            ),
            (
                "Server during the health run (cores)",
                f"{self.server_cores:.2f}",
                "",
                f"over {self.window_s:.0f} s from the fleet's start; the fleet's processes {self.fleet_cores:.2f} "
                f"cores, the faulty chargers and pollers {self.bench_cores:.2f}; machine {self.machine_pct:.0f}% "
                f"busy; {self.polls} incident polls (p50 {_s(self.poll_p50_ms)} ms each), {self.webhooks} "
                f"webhooks received; server log: {self.server_log or 'quiet'}",
            ),
        ]
        if self.error:
            rows.append(("Health phase error", "n/a", "", self.error))
        lines = ["| measurement | result | target | detail |", "| --- | ---: | ---: | --- |"]
        lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows]
        return "\n".join(lines)

    def settle_s(self) -> float:
        return settle_s(self.heartbeat_s, self.h)

    def tables(self) -> str:
        parts = [self.detection_table(), self.corpus_table(), self.calibration_table(), self.false_positive_table()]
        return "\n\n".join(p for p in parts if p)


def settle_s(heartbeat_s: int, h: HealthSettings) -> float:
    """Long enough for anything the fleet's run set off to open: silence needs two heartbeat
    intervals + the grace, a site's share the window, then a tick or two."""
    return 2 * heartbeat_s + h.offline_grace_s + h.site_window_s + 2 * h.tick_interval_s + 1.0


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _share(part: int, whole: int) -> str:
    return "n/a" if not whole else f"{100 * part / whole:.0f} %"


def _miss(run: CorpusRun) -> str:
    """``name: got kind/cause (confidence)`` or ``name: not detected``."""
    error = f" ({run.error})" if run.error else ""
    if run.incident is None:
        return f"{run.script.name}: not detected{error}"
    i = run.incident
    return f"{run.script.name}: {i.get('kind')}/{i.get('cause')} ({float(i.get('confidence') or 0):.2f}){error}"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _range(volts: Any) -> str:
    if not volts or volts[0] > volts[1]:
        return "n/a"
    return f"{volts[0]:.0f}-{volts[1]:.0f}"


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted((counts or {}).items(), key=lambda kv: -kv[1])[:4])


def why(item: dict[str, Any]) -> str:
    """``offline (socket_closed)``: an incident's kind and what its first signal says."""
    chain = (item.get("evidence") or {}).get("chain") or [{}]
    evidence = chain[0].get("evidence") or {}
    reason = evidence.get("reason") or evidence.get("errorCode") or item.get("topic")
    return f"{item.get('kind')} ({reason})" if reason else str(item.get("kind"))


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
