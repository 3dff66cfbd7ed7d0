"""Shared steps for the OCPP end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.chargers.models import ChargePoint
from app.chargers.service import ChargerService
from app.drivers.models import IdToken
from app.sessions.models import MeterSample, Transaction
from tests.conftest import System

PASSWORD = "a-good-charger-password"


async def register(system: System, identity: str | None = None, evses: int = 1) -> str:
    identity = identity or f"CP-{uuid.uuid4().hex[:8]}"
    async with system.maker() as db:
        await ChargerService(db, system.bus).register(identity, PASSWORD, evse_count=evses)
    return identity


async def add_token(system: System, token: str, status: str = "Accepted", **extra: Any) -> None:
    async with system.maker() as db:
        db.add(IdToken(token=token, status=status, **extra))
        await db.commit()


async def charge_point(system: System, identity: str) -> ChargePoint:
    async with system.maker() as db:
        cp = await db.scalar(select(ChargePoint).where(ChargePoint.identity == identity))
        assert cp is not None
        return cp


async def transactions(system: System, identity: str) -> list[Transaction]:
    async with system.maker() as db:
        rows = await db.scalars(
            select(Transaction)
            .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
            .where(ChargePoint.identity == identity)
            .order_by(Transaction.number)
        )
        return list(rows)


async def samples(system: System, transaction_id: uuid.UUID) -> list[MeterSample]:
    async with system.maker() as db:
        rows = await db.scalars(
            select(MeterSample).where(MeterSample.transaction_id == transaction_id).order_by(MeterSample.id)
        )
        return list(rows)
