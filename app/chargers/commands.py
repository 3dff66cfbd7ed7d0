"""Commands the CSMS sends to a charger, version-neutral.

Each command's arguments are a msgspec struct; the bridge turns it into the CALL of the
charger's OCPP version (``ocpp_bridge/commands.py``). On the bus a command travels as a
``CommandRequest`` and its answer as a ``CommandReply``: message-shaped, so the same path
runs in-process or over NATS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class Args(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Base of every command's arguments."""


class RemoteStartArgs(Args, frozen=True, kw_only=True):
    id_token: str
    evse: int | None = None
    remote_start_id: int | None = None


class RemoteStopArgs(Args, frozen=True, kw_only=True):
    # Our transaction id (uuid) from the API; app.sessions.commands resolves the charger's own id.
    transaction_id: str
    charger_transaction_id: str | None = None


class ResetArgs(Args, frozen=True, kw_only=True):
    kind: Literal["soft", "hard"] = "soft"
    evse: int | None = None


class UnlockConnectorArgs(Args, frozen=True, kw_only=True):
    evse: int
    connector: int = 1


class ChangeAvailabilityArgs(Args, frozen=True, kw_only=True):
    operative: bool
    evse: int = 0  # 0: the whole charger


class TriggerMessageArgs(Args, frozen=True, kw_only=True):
    message: Literal[
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "LogStatusNotification",
        "SignChargingStationCertificate",
        "TransactionEvent",
    ]
    evse: int | None = None


class GetConfigurationArgs(Args, frozen=True, kw_only=True):
    keys: list[str] = msgspec.field(default_factory=list)


class ChangeConfigurationArgs(Args, frozen=True, kw_only=True):
    key: str
    value: str


class VariableRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    component: str
    variable: str
    value: str | None = None
    evse: int | None = None
    instance: str | None = None
    attribute_type: Literal["Actual", "Target", "MinSet", "MaxSet"] | None = None


class GetVariablesArgs(Args, frozen=True, kw_only=True):
    variables: list[VariableRef]


class SetVariablesArgs(Args, frozen=True, kw_only=True):
    variables: list[VariableRef]


class GetBaseReportArgs(Args, frozen=True, kw_only=True):
    report_base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = "FullInventory"
    request_id: int | None = None


class GetDiagnosticsArgs(Args, frozen=True, kw_only=True):
    oldest: datetime | None = None
    latest: datetime | None = None
    retries: int | None = None
    # Filled in by the service: where the charger uploads, and the request it belongs to.
    upload_url: str | None = None
    request_id: int | None = None


class UpdateFirmwareArgs(Args, frozen=True, kw_only=True):
    location: str
    retrieve_at: datetime | None = None
    retries: int | None = None
    request_id: int | None = None


class ClearCacheArgs(Args, frozen=True, kw_only=True):
    pass


class LocalListEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    id_token: str
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = "Accepted"
    expires_at: datetime | None = None


class SendLocalListArgs(Args, frozen=True, kw_only=True):
    version: int
    update_type: Literal["Full", "Differential"] = "Full"
    entries: list[LocalListEntry] = msgspec.field(default_factory=list)


class GetLocalListVersionArgs(Args, frozen=True, kw_only=True):
    pass


class SchedulePeriod(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    start_s: int  # from the start of the schedule
    limit: float


class SetChargingProfileArgs(Args, frozen=True, kw_only=True):
    """A simple power limit: one schedule period from the start, valid until changed; or,
    with ``periods``, a schedule (a roaming partner's: a Tx profile of one transaction,
    ``transaction_id`` being the charger's own id of it)."""

    limit: float
    unit: Literal["W", "A"] = "W"
    evse: int = 0  # 0: the whole charger
    profile_id: int = 1
    stack_level: int = 0
    purpose: Literal["ChargePointMax", "TxDefault", "Tx"] = "ChargePointMax"
    transaction_id: str | None = None
    periods: list[SchedulePeriod] | None = None
    start_at: datetime | None = None  # an absolute schedule from then; else relative to the start
    duration_s: int | None = None
    min_rate: float | None = None


class ClearChargingProfileArgs(Args, frozen=True, kw_only=True):
    profile_id: int | None = None
    evse: int | None = None
    purpose: Literal["ChargePointMax", "TxDefault", "Tx"] | None = None
    stack_level: int | None = None


class GetCompositeScheduleArgs(Args, frozen=True, kw_only=True):
    evse: int = 0
    duration_s: int = 3600
    unit: Literal["W", "A"] | None = None


class ReserveNowArgs(Args, frozen=True, kw_only=True):
    id_token: str
    expires_at: datetime
    evse: int | None = None
    reservation_id: int | None = None


class CancelReservationArgs(Args, frozen=True, kw_only=True):
    reservation_id: int


class DataTransferArgs(Args, frozen=True, kw_only=True):
    vendor_id: str
    message_id: str | None = None
    data: Any = None


COMMANDS: dict[str, type[Args]] = {
    "remote-start": RemoteStartArgs,
    "remote-stop": RemoteStopArgs,
    "reset": ResetArgs,
    "unlock-connector": UnlockConnectorArgs,
    "change-availability": ChangeAvailabilityArgs,
    "trigger-message": TriggerMessageArgs,
    "get-configuration": GetConfigurationArgs,
    "change-configuration": ChangeConfigurationArgs,
    "get-variables": GetVariablesArgs,
    "set-variables": SetVariablesArgs,
    "get-base-report": GetBaseReportArgs,
    "get-diagnostics": GetDiagnosticsArgs,
    "update-firmware": UpdateFirmwareArgs,
    "clear-cache": ClearCacheArgs,
    "send-local-list": SendLocalListArgs,
    "get-local-list-version": GetLocalListVersionArgs,
    "set-charging-profile": SetChargingProfileArgs,
    "clear-charging-profile": ClearChargingProfileArgs,
    "get-composite-schedule": GetCompositeScheduleArgs,
    "reserve-now": ReserveNowArgs,
    "cancel-reservation": CancelReservationArgs,
    "data-transfer": DataTransferArgs,
}


class CommandRequest(msgspec.Struct, frozen=True, kw_only=True):
    """On the bus: to ``commands.<identity>``."""

    name: str
    args: dict[str, Any]
    timeout_s: float


class CommandReply(msgspec.Struct, frozen=True, kw_only=True):
    """``outcome``: answered | timeout | call_error | invalid | unsupported | offline | unavailable
    (the bus could not carry it: nothing was sent)."""

    outcome: str
    status: str | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    error_code: str | None = None
    error_description: str | None = None
    field: str | None = None


def subject_for(identity: str) -> str:
    return f"commands.{identity}"
