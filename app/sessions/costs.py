"""What a session costs: its tariff snapshot priced over its energy register readings."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.sessions.models import MeterSample, Transaction
from app.sessions.types import ENERGY_REGISTER
from app.tariffs.pricing import Price, Reading, TariffTerms, Usage, price


async def usage_of(db: AsyncSession, tx: Transaction) -> Usage:
    """The transaction's energy register readings (the whole-meter ones: no phase) plus its
    start and stop readings, in any order: ``price`` sorts and dedupes them."""
    rows = await db.execute(
        select(MeterSample.sampled_at, MeterSample.value).where(
            MeterSample.transaction_id == tx.id,
            MeterSample.measurand == ENERGY_REGISTER,
            MeterSample.phase == "",
        )
    )
    readings = [Reading(at=at, energy_wh=value) for at, value in rows]
    if tx.meter_start_wh is not None and tx.meter_start_at is not None:
        readings.append(Reading(at=tx.meter_start_at, energy_wh=tx.meter_start_wh))
    if tx.meter_stop_wh is not None and tx.stopped_at is not None:
        readings.append(Reading(at=tx.stopped_at, energy_wh=tx.meter_stop_wh))
    return Usage(started_at=tx.started_at, readings=tuple(readings), ended_at=tx.stopped_at)


def terms_of(tx: Transaction) -> TariffTerms | None:
    if tx.tariff_snapshot is None:
        return None
    return TariffTerms.from_json(tx.tariff_snapshot)


async def cost_so_far(db: AsyncSession, tx: Transaction, now: datetime) -> Price | None:
    """The live price of a running (or ended) session; None without a tariff."""
    terms = terms_of(tx)
    if terms is None:
        return None
    return price(terms, await usage_of(db, tx), now=now)


async def price_ended(db: AsyncSession, tx: Transaction, now: datetime) -> Price | None:
    """Price an ended session once and keep the result on it; later calls return the same."""
    if tx.status != "completed":
        return None
    if tx.cost is not None:
        return msgspec.convert(tx.cost, Price)
    result = await cost_so_far(db, tx, now)
    if result is None:
        return None
    tx.cost = msgspec.to_builtins(result)
    tx.cost_currency, tx.cost_minor, tx.cost_vat_minor = result.currency, result.total_minor, result.vat_minor
    tx.priced_at = now
    return result


async def latest_power_w(db: AsyncSession, transaction_id: object) -> float | None:
    """The session's latest whole-meter power reading (W), if the charger reports one."""
    return await db.scalar(
        select(MeterSample.value)
        .where(
            MeterSample.transaction_id == transaction_id,
            MeterSample.measurand == "Power.Active.Import",
            MeterSample.phase == "",
        )
        .order_by(MeterSample.sampled_at.desc())
        .limit(1)
    )
