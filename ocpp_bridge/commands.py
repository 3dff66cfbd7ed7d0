"""Bus commands -> the CALL of the charger's OCPP version, and its answer back.

One table per version: command name -> (action, build payload). A command the version
has no CALL for is ``unsupported``; a payload the version's schema refuses is ``invalid``
(both before anything is sent).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from app.chargers.commands import (
    COMMANDS,
    Args,
    ClearChargingProfileArgs,
    CommandReply,
    CommandRequest,
    GetVariablesArgs,
    RemoteStartArgs,
    RemoteStopArgs,
    SchedulePeriod,
    SetChargingProfileArgs,
    SetVariablesArgs,
    VariableRef,
)
from ocpp_bridge.common import iso
from ocpp_bridge.protocol import OcppError, Version

Payload = dict[str, Any]
Builder = Callable[[Any], Payload]

# Request ids the charger echoes back (GetLog, GetBaseReport, UpdateFirmware, ...): unique
# enough per process, and an int32 as the schemas want.
_request_ids = itertools.count(int(time.time()) % 1_000_000 * 1000)


def _request_id(given: int | None) -> int:
    return given if given is not None else next(_request_ids) % 2_147_483_647


def _drop_none(d: Payload) -> Payload:
    return {k: v for k, v in d.items() if v is not None}


def _ts(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


# -- OCPP 1.6 --------------------------------------------------------------------------


def _v16_remote_start(a: RemoteStartArgs) -> Payload:
    return _drop_none({"idTag": a.id_token, "connectorId": a.evse})


def _v16_remote_stop(a: RemoteStopArgs) -> Payload:
    try:
        return {"transactionId": int(a.charger_transaction_id or "")}
    except ValueError:
        raise OcppError("PropertyConstraintViolation", "transactionId: not a 1.6 transaction") from None


def _periods(a: SetChargingProfileArgs, limit: Callable[[float], float]) -> list[Payload]:
    periods = a.periods or [SchedulePeriod(start_s=0, limit=a.limit)]
    return [{"startPeriod": p.start_s, "limit": limit(p.limit)} for p in periods]


def _v16_tx_id(a: SetChargingProfileArgs) -> int | None:
    if a.purpose != "Tx" or a.transaction_id is None:
        return None
    try:
        return int(a.transaction_id)
    except ValueError:
        raise OcppError("PropertyConstraintViolation", "transactionId: not a 1.6 transaction") from None


def _v16_profile(a: SetChargingProfileArgs) -> Payload:
    return {
        "connectorId": a.evse,
        "csChargingProfiles": _drop_none(
            {
                "chargingProfileId": a.profile_id,
                "transactionId": _v16_tx_id(a),
                "stackLevel": a.stack_level,
                "chargingProfilePurpose": f"{a.purpose}Profile",
                "chargingProfileKind": "Absolute" if a.start_at else "Relative",
                "chargingSchedule": _drop_none(
                    {
                        "duration": a.duration_s,
                        "startSchedule": _ts(a.start_at),
                        "chargingRateUnit": a.unit,
                        # 1.6 wants one decimal at most (multipleOf 0.1).
                        "chargingSchedulePeriod": _periods(a, lambda x: round(x, 1)),
                        "minChargingRate": None if a.min_rate is None else round(a.min_rate, 1),
                    }
                ),
            }
        ),
    }


V16: dict[str, tuple[str, Builder]] = {
    "remote-start": ("RemoteStartTransaction", _v16_remote_start),
    "remote-stop": ("RemoteStopTransaction", _v16_remote_stop),
    "reset": ("Reset", lambda a: {"type": "Hard" if a.kind == "hard" else "Soft"}),
    "unlock-connector": ("UnlockConnector", lambda a: {"connectorId": a.evse}),
    "change-availability": (
        "ChangeAvailability",
        lambda a: {"connectorId": a.evse, "type": "Operative" if a.operative else "Inoperative"},
    ),
    "trigger-message": (
        "TriggerMessage",
        lambda a: _drop_none({"requestedMessage": a.message, "connectorId": a.evse}),
    ),
    "get-configuration": ("GetConfiguration", lambda a: {"key": a.keys} if a.keys else {}),
    "change-configuration": ("ChangeConfiguration", lambda a: {"key": a.key, "value": a.value}),
    "get-diagnostics": (
        "GetDiagnostics",
        lambda a: _drop_none(
            {"location": a.upload_url, "startTime": _ts(a.oldest), "stopTime": _ts(a.latest), "retries": a.retries}
        ),
    ),
    "update-firmware": (
        "UpdateFirmware",
        lambda a: _drop_none(
            {
                "location": a.location,
                "retrieveDate": iso(a.retrieve_at or datetime.now().astimezone()),
                "retries": a.retries,
            }
        ),
    ),
    "clear-cache": ("ClearCache", lambda a: {}),
    "send-local-list": (
        "SendLocalList",
        lambda a: {
            "listVersion": a.version,
            "updateType": a.update_type,
            "localAuthorizationList": [
                {"idTag": e.id_token, "idTagInfo": _drop_none({"status": e.status, "expiryDate": _ts(e.expires_at)})}
                if e.status
                else {"idTag": e.id_token}
                for e in a.entries
            ],
        },
    ),
    "get-local-list-version": ("GetLocalListVersion", lambda a: {}),
    "set-charging-profile": ("SetChargingProfile", _v16_profile),
    "clear-charging-profile": (
        "ClearChargingProfile",
        lambda a: _drop_none(
            {
                "id": a.profile_id,
                "connectorId": a.evse,
                "chargingProfilePurpose": f"{a.purpose}Profile" if a.purpose else None,
                "stackLevel": a.stack_level,
            }
        ),
    ),
    "get-composite-schedule": (
        "GetCompositeSchedule",
        lambda a: _drop_none({"connectorId": a.evse, "duration": a.duration_s, "chargingRateUnit": a.unit}),
    ),
    "reserve-now": (
        "ReserveNow",
        lambda a: {
            "connectorId": a.evse or 0,
            "expiryDate": iso(a.expires_at),
            "idTag": a.id_token,
            "reservationId": a.reservation_id,
        },
    ),
    "cancel-reservation": ("CancelReservation", lambda a: {"reservationId": a.reservation_id}),
    "data-transfer": (
        "DataTransfer",
        lambda a: _drop_none(
            {
                "vendorId": a.vendor_id,
                "messageId": a.message_id,
                "data": a.data if a.data is None or isinstance(a.data, str) else msgspec.json.encode(a.data).decode(),
            }
        ),
    ),
}


# -- OCPP 2.0.1 ------------------------------------------------------------------------


def _component(v: VariableRef) -> Payload:
    return _drop_none({"name": v.component, "evse": {"id": v.evse} if v.evse is not None else None})


def _variable(v: VariableRef) -> Payload:
    return _drop_none({"name": v.variable, "instance": v.instance})


def _v201_get_variables(a: GetVariablesArgs) -> Payload:
    return {
        "getVariableData": [
            _drop_none({"component": _component(v), "variable": _variable(v), "attributeType": v.attribute_type})
            for v in a.variables
        ]
    }


def _v201_set_variables(a: SetVariablesArgs) -> Payload:
    for v in a.variables:
        if v.value is None:
            raise OcppError("OccurrenceConstraintViolation", f"variables: {v.component}.{v.variable} needs a value")
    return {
        "setVariableData": [
            _drop_none(
                {
                    "component": _component(v),
                    "variable": _variable(v),
                    "attributeValue": v.value,
                    "attributeType": v.attribute_type,
                }
            )
            for v in a.variables
        ]
    }


_V201_PURPOSES = {"ChargePointMax": "ChargingStationMaxProfile", "TxDefault": "TxDefaultProfile", "Tx": "TxProfile"}


def _v201_profile(a: SetChargingProfileArgs) -> Payload:
    return {
        "evseId": a.evse,
        "chargingProfile": _drop_none(
            {
                "id": a.profile_id,
                "stackLevel": a.stack_level,
                "chargingProfilePurpose": _V201_PURPOSES[a.purpose],
                "chargingProfileKind": "Absolute" if a.start_at else "Relative",
                "transactionId": a.transaction_id if a.purpose == "Tx" else None,
                "chargingSchedule": [
                    _drop_none(
                        {
                            "id": a.profile_id,
                            "startSchedule": _ts(a.start_at),
                            "duration": a.duration_s,
                            "chargingRateUnit": a.unit,
                            "chargingSchedulePeriod": _periods(a, lambda x: x),
                            "minChargingRate": a.min_rate,
                        }
                    )
                ],
            }
        ),
    }


def _v201_clear_profile(a: ClearChargingProfileArgs) -> Payload:
    purpose = {"ChargePointMax": "ChargingStationMaxProfile", "TxDefault": "TxDefaultProfile", "Tx": "TxProfile"}
    criteria = _drop_none(
        {
            "evseId": a.evse,
            "chargingProfilePurpose": purpose[a.purpose] if a.purpose else None,
            "stackLevel": a.stack_level,
        }
    )
    return _drop_none({"chargingProfileId": a.profile_id, "chargingProfileCriteria": criteria or None})


def _v201_evse(evse: int | None, connector: int | None = None) -> Payload | None:
    if evse is None or evse == 0:
        return None
    return _drop_none({"id": evse, "connectorId": connector})


V201: dict[str, tuple[str, Builder]] = {
    "remote-start": (
        "RequestStartTransaction",
        lambda a: _drop_none(
            {
                "idToken": {"idToken": a.id_token, "type": "Central"},
                "remoteStartId": _request_id(a.remote_start_id),
                "evseId": a.evse,
            }
        ),
    ),
    "remote-stop": ("RequestStopTransaction", lambda a: {"transactionId": a.charger_transaction_id}),
    "reset": (
        "Reset",
        lambda a: _drop_none({"type": "Immediate" if a.kind == "hard" else "OnIdle", "evseId": a.evse}),
    ),
    "unlock-connector": ("UnlockConnector", lambda a: {"evseId": a.evse, "connectorId": a.connector}),
    "change-availability": (
        "ChangeAvailability",
        lambda a: _drop_none(
            {"operationalStatus": "Operative" if a.operative else "Inoperative", "evse": _v201_evse(a.evse)}
        ),
    ),
    "trigger-message": (
        "TriggerMessage",
        lambda a: _drop_none({"requestedMessage": a.message, "evse": _v201_evse(a.evse)}),
    ),
    "get-variables": ("GetVariables", _v201_get_variables),
    "set-variables": ("SetVariables", _v201_set_variables),
    "get-base-report": (
        "GetBaseReport",
        lambda a: {"requestId": _request_id(a.request_id), "reportBase": a.report_base},
    ),
    "get-diagnostics": (
        "GetLog",
        lambda a: _drop_none(
            {
                "logType": "DiagnosticsLog",
                "requestId": _request_id(a.request_id),
                "retries": a.retries,
                "log": _drop_none(
                    {"remoteLocation": a.upload_url, "oldestTimestamp": _ts(a.oldest), "latestTimestamp": _ts(a.latest)}
                ),
            }
        ),
    ),
    "update-firmware": (
        "UpdateFirmware",
        lambda a: _drop_none(
            {
                "requestId": _request_id(a.request_id),
                "retries": a.retries,
                "firmware": {
                    "location": a.location,
                    "retrieveDateTime": iso(a.retrieve_at or datetime.now().astimezone()),
                },
            }
        ),
    ),
    "clear-cache": ("ClearCache", lambda a: {}),
    "send-local-list": (
        "SendLocalList",
        lambda a: {
            "versionNumber": a.version,
            "updateType": a.update_type,
            "localAuthorizationList": [
                _drop_none(
                    {
                        "idToken": {"idToken": e.id_token, "type": "ISO14443"},
                        "idTokenInfo": _drop_none({"status": e.status, "cacheExpiryDateTime": _ts(e.expires_at)})
                        if e.status
                        else None,
                    }
                )
                for e in a.entries
            ],
        },
    ),
    "get-local-list-version": ("GetLocalListVersion", lambda a: {}),
    "set-charging-profile": ("SetChargingProfile", _v201_profile),
    "clear-charging-profile": ("ClearChargingProfile", _v201_clear_profile),
    "get-composite-schedule": (
        "GetCompositeSchedule",
        lambda a: _drop_none({"duration": a.duration_s, "evseId": a.evse, "chargingRateUnit": a.unit}),
    ),
    "reserve-now": (
        "ReserveNow",
        lambda a: _drop_none(
            {
                "id": a.reservation_id,
                "expiryDateTime": iso(a.expires_at),
                "idToken": {"idToken": a.id_token, "type": "ISO14443"},
                "evseId": a.evse or None,
            }
        ),
    ),
    "cancel-reservation": ("CancelReservation", lambda a: {"reservationId": a.reservation_id}),
    "data-transfer": (
        "DataTransfer",
        lambda a: _drop_none({"vendorId": a.vendor_id, "messageId": a.message_id, "data": a.data}),
    ),
}

TABLES = {Version.V16: V16, Version.V201: V201}


def build_call(version: Version, request: CommandRequest) -> tuple[str, Payload]:
    """The (action, payload) for this command, or OcppError / LookupError."""
    args_type: type[Args] | None = COMMANDS.get(request.name)
    if args_type is None:
        raise LookupError(f"unknown command {request.name!r}")
    entry = TABLES[version].get(request.name)
    if entry is None:
        raise LookupError(f"{request.name} has no OCPP {version.short} equivalent")
    action, build = entry
    args = msgspec.convert(request.args, args_type)
    return action, build(args)


def answer_status(action: str, answer: Payload) -> str:
    """The charger's verdict; answers without a status (1.6 GetConfiguration...) mean Accepted."""
    status = answer.get("status")
    if isinstance(status, str):
        return status
    if action == "GetDiagnostics":
        return "Accepted" if answer.get("fileName") else "NoFile"
    return "Accepted"


def reply_for(outcome: str, **fields: Any) -> CommandReply:
    return CommandReply(outcome=outcome, **fields)
