"""JSON shapes of transactions and their meter samples (operator API)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from app.core.http import Page
from app.sessions.models import MeterSample, Transaction


class MeterSampleOut(msgspec.Struct, kw_only=True, rename="camel"):
    sampled_at: datetime
    measurand: str
    phase: str | None  # e.g. L1, L1-N; null for the total
    location: str | None  # Outlet, Inlet, EV, Body, Cable
    context: str
    unit: Annotated[str, msgspec.Meta(description="Base unit: Wh, W, A, V, Hz, Celsius, Percent")]
    value: float

    @classmethod
    def of(cls, s: MeterSample) -> MeterSampleOut:
        return cls(
            sampled_at=s.sampled_at,
            measurand=s.measurand,
            phase=s.phase or None,
            location=s.location or None,
            context=s.context,
            unit=s.unit,
            value=s.value,
        )


class TransactionSummaryOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    number: Annotated[int, msgspec.Meta(description="Our number; 1.6 chargers know it by this")]
    charger_id: uuid.UUID
    charger_identity: str
    charger_transaction_id: str
    evse: int
    connector: int
    id_token: str | None
    id_token_type: str | None
    status: str  # active | completed
    started_at: datetime
    stopped_at: datetime | None
    stop_reason: str | None
    charging_state: str | None
    offline: bool
    meter_start_wh: float | None
    meter_stop_wh: float | None
    energy_wh: float

    @classmethod
    def fields_of(cls, tx: Transaction, charger_identity: str) -> dict[str, object]:
        return {
            "id": tx.id,
            "number": tx.number,
            "charger_id": tx.charge_point_id,
            "charger_identity": charger_identity,
            "charger_transaction_id": tx.charger_transaction_id,
            "evse": tx.evse_number,
            "connector": tx.connector_number,
            "id_token": tx.id_token,
            "id_token_type": tx.id_token_type,
            "status": tx.status,
            "started_at": tx.started_at,
            "stopped_at": tx.stopped_at,
            "stop_reason": tx.stop_reason,
            "charging_state": tx.charging_state,
            "offline": tx.offline,
            "meter_start_wh": tx.meter_start_wh,
            "meter_stop_wh": tx.meter_stop_wh,
            "energy_wh": tx.energy_wh,
        }

    @classmethod
    def of(cls, tx: Transaction, charger_identity: str) -> TransactionSummaryOut:
        return cls(**cls.fields_of(tx, charger_identity))  # type: ignore[arg-type]


class TransactionOut(TransactionSummaryOut, kw_only=True, rename="camel"):
    meter_samples: list[MeterSampleOut]

    @classmethod
    def detail(cls, tx: Transaction, charger_identity: str, samples: list[MeterSample]) -> TransactionOut:
        return cls(
            **cls.fields_of(tx, charger_identity),  # type: ignore[arg-type]
            meter_samples=[MeterSampleOut.of(s) for s in samples],
        )


class TransactionPageOut(Page, kw_only=True, rename="camel"):
    items: list[TransactionSummaryOut]
