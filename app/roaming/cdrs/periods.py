"""A session cut into the stretches its price is made of: the charging periods of its CDR.

The cuts are the ones ``app.tariffs.pricing.price`` makes, so each stretch carries exactly
the energy and time our own price counted in it: a charging step's energy split between
time-of-day bands in proportion to its time in each, the pauses between charging steps
(free), and the idle time after charging ended, the grace first (free), then the billed
rest. Pure: no database, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Literal

from app.tariffs.pricing import TariffTerms, Usage, band_spans

# charging: energy flowed (billed by ENERGY and TIME); paused: between charging steps (free);
# grace: idle within the grace (free); idle: idle after the grace (PARKING_TIME);
# free: a session that delivered no energy (costs nothing at all).
SpanKind = Literal["charging", "paused", "grace", "idle", "free"]
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    kind: SpanKind
    band: int | None  # the time-of-day band of a charging span; None: the base prices
    energy_wh: Fraction
    seconds: Fraction

    @property
    def billed(self) -> bool:
        """Whether the tariff applies here (the CDR names it) or nothing does."""
        return self.kind in ("charging", "idle")


def _seconds(delta: timedelta) -> Fraction:
    return Fraction(delta // _US, 1_000_000)


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def spans(terms: TariffTerms, usage: Usage) -> list[Span]:
    """The ended session ``usage`` as consecutive spans from its start to its end."""
    if usage.ended_at is None:
        raise ValueError("a CDR is made of an ended session")
    start = _utc(usage.started_at)
    end = max(_utc(usage.ended_at), start)
    for r in usage.readings:
        if not math.isfinite(r.energy_wh):
            raise ValueError(f"reading at {r.at.isoformat()} is not a number: {r.energy_wh}")
    readings = sorted((min(max(_utc(r.at), start), end), Fraction(r.energy_wh)) for r in usage.readings)

    steps: list[Span] = []
    last_rising = -1
    high = readings[0][1] if readings else Fraction(0)
    for (t0, _), (t1, e1) in pairwise(readings):
        if e1 <= high:
            steps.append(Span(t0, t1, "paused", None, Fraction(0), _seconds(t1 - t0)))
            continue
        added, high = e1 - high, e1
        duration = _seconds(t1 - t0)
        for band, a, b in band_spans(terms, t0, t1):
            seconds = _seconds(b - a)
            share = added * seconds / duration if duration else added
            steps.append(Span(a, b, "charging", band, share, seconds))
        last_rising = len(steps) - 1
    energy = sum((s.energy_wh for s in steps), Fraction(0))
    if last_rising < 0 or energy <= 0:
        return [Span(start, end, "free", None, Fraction(0), _seconds(end - start))]

    result: list[Span] = []
    if readings[0][0] > start:
        result.append(Span(start, readings[0][0], "paused", None, Fraction(0), _seconds(readings[0][0] - start)))
    result.extend(steps[: last_rising + 1])
    charge_end = steps[last_rising].end
    grace_end = min(end, charge_end + timedelta(minutes=terms.idle_grace_minutes))
    result.append(Span(charge_end, grace_end, "grace", None, Fraction(0), _seconds(grace_end - charge_end)))
    result.append(Span(grace_end, end, "idle", None, Fraction(0), _seconds(end - grace_end)))
    return _merged(result)


def _merged(items: list[Span]) -> list[Span]:
    """Neighbours of one kind and band as one span; empty stretches without energy dropped."""
    out: list[Span] = []
    for s in items:
        if s.seconds == 0 and s.energy_wh == 0 and s.kind != "charging":
            continue
        if out and out[-1].kind == s.kind and out[-1].band == s.band:
            prev = out[-1]
            out[-1] = Span(prev.start, s.end, s.kind, s.band, prev.energy_wh + s.energy_wh, prev.seconds + s.seconds)
        else:
            out.append(s)
    return out
