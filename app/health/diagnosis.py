"""From signals to a diagnosis: the likely root cause (a fixed vocabulary), a confidence
and the evidence chain a technician reads; and site correlation: several chargers of one
location with the same trouble at once are one site incident (its network or its supply).

Pure: the monitor feeds it the charger -> location map and asks it where each signal goes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from app.core.settings import HealthSettings
from app.health.signals import Signal, dedupe_key, site_key

# Trouble that a whole site can have at once, and what it means there.
SITE_CAUSES = {"offline": "site_network", "power_supply": "grid_supply"}
SITE_CONFIDENCE = 0.85


class Diagnosis(msgspec.Struct, frozen=True, kw_only=True):
    cause: str
    confidence: float
    summary: str
    # What led here, oldest first: each a signal (kind, topic, charger, evidence) or neighbour.
    chain: list[dict[str, Any]]


def link(signal: Signal) -> dict[str, Any]:
    """One signal as a link of the evidence chain."""
    return {
        "signal": signal.kind,
        "topic": signal.topic,
        "identity": signal.identity,
        "evse": signal.evse,
        "connector": signal.connector,
        "at": signal.at.isoformat(),
        "clears": signal.clears,
        "summary": signal.summary,
        "evidence": signal.evidence,
    }


def diagnose(signal: Signal) -> Diagnosis:
    """A single charger's signal: the detector's cause hint is the diagnosis."""
    return Diagnosis(cause=signal.cause, confidence=signal.confidence, summary=signal.summary, chain=[link(signal)])


@dataclass(frozen=True)
class ChargerInfo:
    id: uuid.UUID
    location_id: uuid.UUID | None
    operator_id: uuid.UUID | None


@dataclass(frozen=True)
class Placement:
    """Where a signal goes: the incident (key) it opens, updates or clears, and why."""

    signal: Signal
    key: str
    diagnosis: Diagnosis
    charger: ChargerInfo | None
    location_id: uuid.UUID | None
    operator_id: uuid.UUID | None
    site: bool = False
    # A fleet incident (app/health/fleet.py): one tenant's chargers of one model and firmware.
    fleet: bool = False
    # A charger that has just joined the open fleet incident (its protective steps follow).
    joined: str | None = None
    # A new site (or fleet) incident folds in these chargers' own open incidents (they went dark
    # before their siblings did): resolved as merged into it.
    absorbs: tuple[str, ...] = ()


@dataclass
class _Pending:
    first_at: datetime
    signals: dict[str, Signal] = field(default_factory=dict)


class SiteCorrelator:
    def __init__(self, settings: HealthSettings) -> None:
        self.s = settings
        self.window = timedelta(seconds=settings.site_window_s)
        self.chargers: dict[str, ChargerInfo] = {}
        self.by_location: dict[uuid.UUID, set[str]] = {}
        self.location_names: dict[uuid.UUID, str] = {}
        self.pending: dict[tuple[uuid.UUID, str], _Pending] = {}
        # Open site incidents: (location, kind) -> the chargers it holds.
        self.sites: dict[tuple[uuid.UUID, str], set[str]] = {}

    # -- the map ------------------------------------------------------------------------

    def know(self, identity: str, info: ChargerInfo, location_name: str | None = None) -> None:
        old = self.chargers.get(identity)
        if old is not None and old.location_id is not None:
            self.by_location.get(old.location_id, set()).discard(identity)
        self.chargers[identity] = info
        if info.location_id is not None:
            self.by_location.setdefault(info.location_id, set()).add(identity)
            if location_name is not None:
                self.location_names[info.location_id] = location_name

    def restore_site(self, location_id: uuid.UUID, kind: str, members: list[str]) -> None:
        self.sites[(location_id, kind)] = set(members)

    # -- placing signals ------------------------------------------------------------------

    def place(
        self,
        signal: Signal,
        now: datetime,
        dark: Callable[[str], bool],
        down: Callable[[str], bool] = lambda _: False,
    ) -> list[Placement]:
        """``dark``: is this charger offline or plausibly so; ``down``: has it been told
        offline already (its own incident is open)."""
        info = self.chargers.get(signal.identity)
        location = info.location_id if info else None
        if (
            signal.kind not in SITE_CAUSES
            or location is None
            or len(self.by_location.get(location, ())) < max(2, self.s.site_min_chargers)
        ):
            return [self._charger(signal)]
        group = (location, signal.kind)
        if signal.clears:
            members = self.sites.get(group)
            if members is not None and signal.identity in members:
                members.discard(signal.identity)
                if members:
                    return []
                del self.sites[group]
                return [self._site_clear(group, signal)]
            pending = self.pending.get(group)
            if pending is not None and signal.identity in pending.signals:
                del pending.signals[signal.identity]  # back before anyone was told
                if not pending.signals:
                    del self.pending[group]
                return []
            return [self._charger(signal)]
        if group in self.sites:
            self.sites[group].add(signal.identity)
            return [self._site(group, [signal], [], joined=True)]
        pending = self.pending.setdefault(group, _Pending(first_at=now))
        pending.signals[signal.identity] = signal
        # Offline needs no window: by the time one charger's silence (or closed socket)
        # counts, its siblings that went dark with it are already dark (silent past one
        # interval, or disconnected). One alone is its own incident at once; if the others
        # follow, the site incident folds it in.
        return self._decide(group, now, dark, down, final=signal.kind == "offline")

    def flush(
        self, now: datetime, dark: Callable[[str], bool], down: Callable[[str], bool] = lambda _: False
    ) -> list[Placement]:
        """Decide the groups whose correlation window has passed."""
        out: list[Placement] = []
        for group in [g for g, p in self.pending.items() if now - p.first_at >= self.window]:
            out += self._decide(group, now, dark, down, final=True)
        return out

    def _decide(
        self,
        group: tuple[uuid.UUID, str],
        now: datetime,
        dark: Callable[[str], bool],
        down: Callable[[str], bool],
        *,
        final: bool,
    ) -> list[Placement]:
        pending = self.pending[group]
        location, kind = group
        chargers = self.by_location.get(location, set())
        members = list(pending.signals)
        # Offline: a sibling already dark (disconnected, or silent longer than a healthy
        # charger can be) counts too; its own signal follows and joins the site incident.
        neighbours = sorted(i for i in chargers if i not in pending.signals and kind == "offline" and dark(i))
        count = len(members) + len(neighbours)
        if count >= self.s.site_min_chargers and count / max(1, len(chargers)) >= self.s.site_min_share:
            del self.pending[group]
            # A sibling told offline before the site went dark is the site's now: its own
            # incident is folded into the site's, and its return counts for the site.
            earlier = [n for n in neighbours if down(n)]
            self.sites[group] = set(members) | set(earlier)
            site = self._site(group, list(pending.signals.values()), neighbours, joined=False)
            return [dataclasses.replace(site, absorbs=tuple(dedupe_key(n, None, kind) for n in earlier))]
        if not final:
            return []
        del self.pending[group]
        return [self._charger(s) for s in pending.signals.values()]

    def _charger(self, signal: Signal) -> Placement:
        info = self.chargers.get(signal.identity)
        return Placement(
            signal=signal,
            key=signal.key,
            diagnosis=diagnose(signal),
            charger=info,
            location_id=info.location_id if info else None,
            operator_id=info.operator_id if info else None,
        )

    def _site(
        self, group: tuple[uuid.UUID, str], signals: list[Signal], neighbours: list[str], *, joined: bool
    ) -> Placement:
        location, kind = group
        chargers = self.by_location.get(location, set())
        members = self.sites[group]
        cause = SITE_CAUSES[kind]
        name = self.location_names.get(location, str(location))
        what = (
            "are offline at once: the site's network or power"
            if kind == "offline"
            else ("see supply trouble at once: the site's grid connection")
        )
        dark_now = len(members) + (len(neighbours) if not joined else 0)
        summary = f"Site {name}: {dark_now} of {len(chargers)} chargers {what}."
        chain = [link(s) for s in signals]
        chain += [{"neighbour": n, "dark": True} for n in neighbours]
        first = signals[0]
        info = self.chargers.get(first.identity)
        site_signal = Signal(
            kind=kind,
            identity=first.identity,
            at=first.at,
            severity="critical",
            cause=cause,
            confidence=SITE_CONFIDENCE,
            summary=summary,
            evidence={"chargers": sorted(members | set(neighbours)), "siteChargers": len(chargers)},
        )
        return Placement(
            signal=site_signal,
            key=site_key(str(location), kind),
            diagnosis=Diagnosis(cause=cause, confidence=SITE_CONFIDENCE, summary=summary, chain=chain),
            charger=None,
            location_id=location,
            operator_id=info.operator_id if info else None,
            site=True,
        )

    def _site_clear(self, group: tuple[uuid.UUID, str], signal: Signal) -> Placement:
        location, kind = group
        info = self.chargers.get(signal.identity)
        name = self.location_names.get(location, str(location))
        clear = msgspec.structs.replace(
            signal, evse=None, topic="", summary=f"Site {name}: every charger has recovered."
        )
        return Placement(
            signal=clear,
            key=site_key(str(location), kind),
            diagnosis=Diagnosis(
                cause=SITE_CAUSES[kind], confidence=SITE_CONFIDENCE, summary=clear.summary, chain=[link(clear)]
            ),
            charger=None,
            location_id=location,
            operator_id=info.operator_id if info else None,
            site=True,
        )
