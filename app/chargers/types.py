"""What the bridge tells the charger services, already free of any OCPP payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class BootInfo(msgspec.Struct, frozen=True, kw_only=True):
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


class BootResult(msgspec.Struct, frozen=True, kw_only=True):
    status: str  # Accepted | Pending | Rejected
    current_time: datetime
    interval_s: int


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """A connector's status. evse/connector 0 is the charge point as a whole (1.6)."""

    evse: int
    connector: int
    status: str
    at: datetime
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None


class ChargerEventIn(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    at: datetime
    code: str | None = None
    evse: int | None = None
    connector: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)
