"""Meter values on the hot path: samples and the transaction's running energy, group-committed.

A 1.6 MeterValues names its transaction by the number we gave it, so the writes find it
with a subquery and need no read first. A replayed message adds nothing: samples have a
unique key, and the running register only moves forward in time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BindParameter, Table, and_, bindparam, case, or_, select, update

from app.chargers.service import ChargerRef
from app.core.batching import GroupCommit, Write
from app.core.bus import Bus, Event
from app.core.database import insert_or_ignore, utcnow
from app.sessions.events import MeterSampled, TransactionUpdated
from app.sessions.models import MeterSample, Transaction
from app.sessions.types import MeterReport

tx_t = cast(Table, Transaction.__table__)
sample_t = cast(Table, MeterSample.__table__)


class _Statements:
    def __init__(self, dialect: str) -> None:
        tx_id = (
            select(tx_t.c.id)
            .where(tx_t.c.charge_point_id == bindparam("cp"), tx_t.c.number == bindparam("tx_number"))
            .scalar_subquery()
        )
        self.sample = insert_or_ignore(dialect, sample_t).values(transaction_id=tx_id)
        self.sample_no_tx = insert_or_ignore(dialect, sample_t)
        value: BindParameter[float] = bindparam("value")
        self.register = (
            update(tx_t)
            .where(
                and_(tx_t.c.charge_point_id == bindparam("cp"), tx_t.c.number == bindparam("tx_number")),
                tx_t.c.status == "active",
                or_(tx_t.c.meter_last_at.is_(None), tx_t.c.meter_last_at <= bindparam("at")),
            )
            .values(
                meter_last_wh=value,
                meter_last_at=bindparam("at"),
                energy_wh=case(
                    (tx_t.c.meter_start_wh.is_(None), 0.0),
                    (value - tx_t.c.meter_start_wh < 0, 0.0),
                    else_=value - tx_t.c.meter_start_wh,
                ),
                updated_at=bindparam("now"),
            )
        )


class MeterRecorder:
    def __init__(self, writer: GroupCommit, bus: Bus, dialect: str, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.writer = writer
        self.bus = bus
        self.sql = _Statements(dialect)
        self.clock = clock

    async def meter_values(self, charger: ChargerRef, report: MeterReport) -> None:
        if not report.samples:
            return
        now = self.clock()
        number = report.transaction_number
        stmt = self.sql.sample if number is not None else self.sql.sample_no_tx
        writes: list[Write] = []
        latest_register: Any = None
        for s in report.samples:
            params = s.row(charger.id, report.evse, now)
            if number is not None:
                params["cp"], params["tx_number"] = charger.id, number
                if s.is_energy_register and (latest_register is None or s.at >= latest_register.at):
                    latest_register = s
            writes.append(Write(stmt, params))
        if latest_register is not None:
            writes.append(
                Write(
                    self.sql.register,
                    {
                        "cp": charger.id,
                        "tx_number": number,
                        "value": latest_register.value,
                        "at": latest_register.at,
                        "now": now,
                    },
                )
            )
        await self.writer.submit(writes)
        events: list[Event] = [
            MeterSampled(
                identity=charger.identity,
                evse=report.evse,
                transaction_id=None,
                transaction_number=number,
                samples=report.samples,
            )
        ]
        if latest_register is not None and number is not None:
            events.append(
                TransactionUpdated(
                    identity=charger.identity,
                    transaction_id=None,
                    number=number,
                    energy_wh=None,
                    meter_wh=latest_register.value,
                    charging_state=None,
                    at=latest_register.at,
                )
            )
        for event in events:
            self.bus.publish(event)
