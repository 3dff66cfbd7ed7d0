"""Version-neutral inputs the bridge hands the transaction service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

ENERGY_REGISTER = "Energy.Active.Import.Register"


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """One sampled value, already in its base unit (Wh, W, A, V, Hz, Celsius, Percent...)."""

    at: datetime
    measurand: str
    value: float
    unit: str
    context: str = "Sample.Periodic"
    phase: str = ""
    location: str = "Outlet"

    def row(self, charge_point_id: Any, evse: int, received_at: datetime) -> dict[str, Any]:
        """Its meter_samples row (without the transaction)."""
        return {
            "charge_point_id": charge_point_id,
            "evse_number": evse,
            "sampled_at": self.at,
            "measurand": self.measurand,
            "phase": self.phase,
            "location": self.location,
            "context": self.context,
            "unit": self.unit,
            "value": self.value,
            "received_at": received_at,
        }

    @property
    def is_energy_register(self) -> bool:
        return self.measurand == ENERGY_REGISTER and self.phase == "" and self.location in ("Outlet", "")


class AuthInfo(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # Accepted | Blocked | Expired | Invalid | Unknown
    expires_at: datetime | None = None
    group_token: str | None = None


class StartRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A 1.6 StartTransaction."""

    connector: int
    token: str
    meter_start_wh: float
    at: datetime
    reservation_id: int | None = None


class Started(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    auth: AuthInfo


class StopRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A 1.6 StopTransaction."""

    number: int
    meter_stop_wh: float
    at: datetime
    reason: str | None = None
    token: str | None = None
    samples: list[Sample] = msgspec.field(default_factory=list)


class TransactionEventIn(msgspec.Struct, frozen=True, kw_only=True):
    """A 2.0.1 TransactionEvent (Started, Updated or Ended)."""

    event_type: str
    charger_transaction_id: str
    seq_no: int
    at: datetime
    trigger_reason: str
    evse: int | None = None
    connector: int | None = None
    token: str | None = None
    token_type: str | None = None
    offline: bool = False
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    samples: list[Sample] = msgspec.field(default_factory=list)


class MeterReport(msgspec.Struct, frozen=True, kw_only=True):
    """Meter values outside a TransactionEvent (1.6 MeterValues, 2.0.1 MeterValues)."""

    evse: int
    samples: list[Sample]
    transaction_number: int | None = None  # 1.6 only
