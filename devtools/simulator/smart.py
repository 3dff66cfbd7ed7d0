"""Smart charging in the simulator: stored charging profiles, the limit they put on a
connector at a given moment, and composite schedules.

Profiles come in as the ``ocpp`` library hands them to a handler (snake_case dicts) and are
normalised to :class:`ChargingProfile`. As in both OCPP versions the limit on a connector is
the lowest of the station maximum (1.6 ChargePointMaxProfile / 2.0.1
ChargingStationMaxProfile) and the transaction's limit: its TxProfile if it has one, else the
TxDefaultProfile of the connector, else that of connector / EVSE 0. Within one purpose the
highest stack level with a period in force wins. Simplification: the station maximum caps
each connector on its own rather than being shared between them. Limits in A are turned into W with 230 V
per phase (the period's numberPhases, else the charger's phases).

Nothing here talks to the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devtools.simulator.model import NOMINAL_VOLTAGE_V, Payload, parse_ts

MAX = "Max"
TX_DEFAULT = "TxDefault"
TX = "Tx"
EXTERNAL = "External"  # 2.0.1 ChargingStationExternalConstraints: never set by the CSMS

PURPOSES = {
    "ChargePointMaxProfile": MAX,
    "ChargingStationMaxProfile": MAX,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
    "ChargingStationExternalConstraints": EXTERNAL,
}
_RECURRENCE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}


@dataclass
class Period:
    start_s: int  # from the schedule's start
    limit: float  # in the profile's unit
    phases: int | None = None


@dataclass
class ChargingProfile:
    id: int
    connector: int  # 0: the whole charge point / station
    stack_level: int
    purpose: str  # MAX / TX_DEFAULT / TX / EXTERNAL
    kind: str  # Absolute / Recurring / Relative
    unit: str  # "W" or "A"
    periods: list[Period]
    start: datetime | None = None
    duration_s: int | None = None
    recurrency: str | None = None  # Daily / Weekly
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    raw: Payload = field(default_factory=dict)

    @classmethod
    def from_16(cls, connector: int, profile: Payload) -> ChargingProfile:
        """A 1.6 ``csChargingProfiles`` / RemoteStartTransaction ``chargingProfile``."""
        tx = profile.get("transaction_id")
        return cls._build(
            connector,
            profile,
            profile_id=int(profile["charging_profile_id"]),
            schedule=profile["charging_schedule"],
            transaction_id=None if tx is None else str(tx),
        )

    @classmethod
    def from_201(cls, evse: int, profile: Payload) -> ChargingProfile:
        """A 2.0.1 ``chargingProfile``; of up to three schedules the first is used."""
        schedules = profile["charging_schedule"]
        schedule = schedules[0] if isinstance(schedules, list) else schedules
        tx = profile.get("transaction_id")
        return cls._build(
            evse,
            profile,
            profile_id=int(profile["id"]),
            schedule=schedule,
            transaction_id=None if tx is None else str(tx),
        )

    @classmethod
    def _build(
        cls,
        connector: int,
        profile: Payload,
        *,
        profile_id: int,
        schedule: Payload,
        transaction_id: str | None,
    ) -> ChargingProfile:
        periods = sorted(
            (
                Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
                for p in schedule.get("charging_schedule_period", [])
            ),
            key=lambda p: p.start_s,
        )
        return cls(
            id=profile_id,
            connector=connector,
            stack_level=int(profile.get("stack_level", 0)),
            purpose=PURPOSES.get(str(profile.get("charging_profile_purpose")), EXTERNAL),
            kind=str(profile.get("charging_profile_kind", "Absolute")),
            unit=str(schedule.get("charging_rate_unit", "W")),
            periods=periods,
            start=_ts(schedule.get("start_schedule")),
            duration_s=schedule.get("duration"),
            recurrency=profile.get("recurrency_kind"),
            valid_from=_ts(profile.get("valid_from")),
            valid_to=_ts(profile.get("valid_to")),
            transaction_id=transaction_id,
            raw=profile,
        )

    # ---- evaluation

    def schedule_start(self, at: datetime, ref: datetime) -> datetime:
        """When the schedule in force at ``at`` began; ``ref`` is the transaction's start
        (or, without one, the moment asked about first) for relative schedules."""
        if self.kind == "Relative" or self.start is None:
            return ref
        if self.kind == "Recurring":
            cycle = _RECURRENCE_S.get(self.recurrency or "Daily", 86_400)
            cycles = math.floor((at - self.start).total_seconds() / cycle)
            return self.start + timedelta(seconds=cycles * cycle)
        return self.start

    def period_at(self, at: datetime, ref: datetime) -> Period | None:
        if self.valid_from is not None and at < self.valid_from:
            return None
        if self.valid_to is not None and at >= self.valid_to:
            return None
        elapsed = (at - self.schedule_start(at, ref)).total_seconds()
        if elapsed < 0 or (self.duration_s is not None and elapsed >= self.duration_s):
            return None
        current = None
        for period in self.periods:
            if period.start_s <= elapsed:
                current = period
        return current

    def boundaries(self, begin: datetime, end: datetime, ref: datetime) -> set[datetime]:
        """Moments in (begin, end) at which this profile's limit may change."""
        moments = {t for t in (self.valid_from, self.valid_to) if t is not None}
        start = self.schedule_start(begin, ref)
        cycle = _RECURRENCE_S.get(self.recurrency or "Daily", 86_400) if self.kind == "Recurring" else None
        while start < end:
            moments.update(start + timedelta(seconds=p.start_s) for p in self.periods)
            if self.duration_s is not None:
                moments.add(start + timedelta(seconds=self.duration_s))
            if cycle is None:
                break
            start += timedelta(seconds=cycle)
        return {t for t in moments if begin < t < end}


def _ts(value: Any) -> datetime | None:
    return parse_ts(value) if isinstance(value, str) and value else None


def to_watts(limit: float, unit: str, phases: int | None, default_phases: int) -> float:
    if unit == "W":
        return limit
    return limit * NOMINAL_VOLTAGE_V * (phases or default_phases)


def from_watts(watts: float, unit: str, phases: int) -> float:
    return watts if unit == "W" else watts / (NOMINAL_VOLTAGE_V * phases)


def _stack_limit_w(profiles: list[ChargingProfile], at: datetime, ref: datetime, default_phases: int) -> float | None:
    for profile in sorted(profiles, key=lambda p: -p.stack_level):
        period = profile.period_at(at, ref)
        if period is not None:
            return to_watts(period.limit, profile.unit, period.phases, default_phases)
    return None


def applicable(
    profiles: list[ChargingProfile], connector: int, transaction_id: str | None
) -> tuple[list[ChargingProfile], list[ChargingProfile], list[ChargingProfile], list[ChargingProfile]]:
    """(station max, Tx of the running transaction, TxDefault of the connector, TxDefault of 0)."""
    station = [p for p in profiles if p.purpose == MAX]
    tx = [
        p
        for p in profiles
        if p.purpose == TX
        and connector != 0
        and p.connector == connector
        and transaction_id is not None
        and p.transaction_id in (None, transaction_id)
    ]
    default_here = [p for p in profiles if p.purpose == TX_DEFAULT and connector != 0 and p.connector == connector]
    default_all = [p for p in profiles if p.purpose == TX_DEFAULT and connector != 0 and p.connector == 0]
    return station, tx, default_here, default_all


def limit_w(
    profiles: list[ChargingProfile],
    connector: int,
    at: datetime,
    *,
    transaction_id: str | None,
    ref: datetime,
    default_phases: int,
) -> float | None:
    """The limit (W) the profiles put on ``connector`` at ``at``; None when none applies."""
    station, tx, default_here, default_all = applicable(profiles, connector, transaction_id)
    limits = [_stack_limit_w(station, at, ref, default_phases)]
    if connector != 0:
        own = None
        for group in (tx, default_here, default_all):
            own = _stack_limit_w(group, at, ref, default_phases)
            if own is not None:
                break
        limits.append(own)
    found = [v for v in limits if v is not None]
    return min(found) if found else None


def composite(
    profiles: list[ChargingProfile],
    connector: int,
    begin: datetime,
    duration_s: int,
    *,
    unit: str,
    transaction_id: str | None,
    ref: datetime,
    hardware_w: float,
    default_phases: int,
) -> list[Period]:
    """The schedule that will be in force on ``connector`` from ``begin`` for ``duration_s``:
    the profiles combined and capped by what the hardware can do."""
    end = begin + timedelta(seconds=max(0, duration_s))
    moments = {begin}
    for group in applicable(profiles, connector, transaction_id):
        for profile in group:
            moments |= profile.boundaries(begin, end, ref)
    periods: list[Period] = []
    for moment in sorted(moments):
        watts = limit_w(
            profiles, connector, moment, transaction_id=transaction_id, ref=ref, default_phases=default_phases
        )
        watts = hardware_w if watts is None else min(watts, hardware_w)
        value = round(from_watts(max(0.0, watts), unit, default_phases), 1)
        start_s = int((moment - begin).total_seconds())
        if periods and periods[-1].start_s == start_s:
            periods.pop()
        if not periods or periods[-1].limit != value:
            periods.append(Period(start_s, value, default_phases if unit == "A" else None))
    return periods
