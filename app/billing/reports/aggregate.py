"""Revenue per group and period, and totals per currency: the reports' arithmetic (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.billing.reports.schemas import AmountTotalOut, GroupBy, Period, RevenueRowOut, RevenueTotalOut


def period_key(instant: datetime, period: Period) -> str:
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%d}" if period == "day" else f"{utc:%Y-%m}"


@dataclass(frozen=True)
class SessionRow:
    """One session's contribution to revenue: a card payment or an on-account price."""

    at: datetime
    location_id: uuid.UUID | None
    location_name: str
    charger_id: uuid.UUID
    charger_name: str
    currency: str
    energy_wh: float
    captured_minor: int = 0
    refunded_minor: int = 0
    on_account_minor: int = 0
    on_account: bool = False


def aggregate_revenue(rows: Iterable[SessionRow], group_by: GroupBy, period: Period) -> list[RevenueRowOut]:
    buckets: dict[tuple[str, uuid.UUID | None, str, str], dict[str, float]] = {}
    for row in rows:
        group_id, name = (
            (row.location_id, row.location_name) if group_by == "location" else (row.charger_id, row.charger_name)
        )
        b = buckets.setdefault((period_key(row.at, period), group_id, name, row.currency), {})
        b["sessions"] = b.get("sessions", 0) + 1
        b["on_account_sessions"] = b.get("on_account_sessions", 0) + (1 if row.on_account else 0)
        b["energy_wh"] = b.get("energy_wh", 0.0) + row.energy_wh
        b["captured"] = b.get("captured", 0) + row.captured_minor
        b["refunded"] = b.get("refunded", 0) + row.refunded_minor
        b["on_account"] = b.get("on_account", 0) + row.on_account_minor
    result = [
        RevenueRowOut(
            period=key,
            group_id=group_id,
            group_name=name,
            currency=currency,
            sessions=int(b["sessions"]),
            paid_sessions=int(b["sessions"] - b["on_account_sessions"]),
            on_account_sessions=int(b["on_account_sessions"]),
            energy_wh=round(b["energy_wh"]),
            captured_minor=int(b["captured"]),
            refunded_minor=int(b["refunded"]),
            on_account_minor=int(b["on_account"]),
            revenue_minor=int(b["captured"] - b["refunded"] + b["on_account"]),
        )
        for (key, group_id, name, currency), b in buckets.items()
    ]
    result.sort(key=lambda r: (r.period, r.group_name, str(r.group_id), r.currency))
    return result


def revenue_totals(rows: Sequence[RevenueRowOut]) -> list[RevenueTotalOut]:
    totals: dict[str, RevenueTotalOut] = {}
    for r in rows:
        t = totals.setdefault(
            r.currency,
            RevenueTotalOut(
                currency=r.currency,
                sessions=0,
                energy_wh=0,
                captured_minor=0,
                refunded_minor=0,
                on_account_minor=0,
                revenue_minor=0,
            ),
        )
        t.sessions += r.sessions
        t.energy_wh += r.energy_wh
        t.captured_minor += r.captured_minor
        t.refunded_minor += r.refunded_minor
        t.on_account_minor += r.on_account_minor
        t.revenue_minor += r.revenue_minor
    return [totals[c] for c in sorted(totals)]


def amount_totals(items: Iterable[tuple[str, int]]) -> list[AmountTotalOut]:
    totals: dict[str, AmountTotalOut] = {}
    for currency, amount in items:
        t = totals.setdefault(currency, AmountTotalOut(currency=currency, count=0, amount_minor=0))
        t.count += 1
        t.amount_minor += amount
    return [totals[c] for c in sorted(totals)]
