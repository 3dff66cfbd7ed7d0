"""After an accepted BootNotification: push the configuration profile to the charger.

Runs after the boot reply is sent (never inside the handler), one CALL at a time, and
only when the profile or the charger's firmware changed since the last push it accepted,
so a reconnect storm doesn't become three CALLs per charger. The bridge only builds the
version's CALLs and makes them; the chargers domain (``BootConfigurationRecorder``) audits
each one and remembers the profile once the charger applied all of it.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import msgspec

from app.chargers.command_service import ChargerCall
from app.core.database import utcnow
from app.core.settings import OcppSettings
from ocpp_bridge.connection import CallFailed, Connection
from ocpp_bridge.protocol import OcppError, Version

log = logging.getLogger("laddnat.ocpp")


def profile_calls(version: Version, s: OcppSettings) -> list[tuple[str, dict[str, Any]]]:
    measurands = ",".join(s.sampled_measurands)
    if version is Version.V16:
        measurands = ",".join((*s.sampled_measurands, *s.sampled_measurands_v16_extra))
        return [
            ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": str(s.heartbeat_interval_s)}),
            ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": str(s.meter_sample_interval_s)}),
            ("ChangeConfiguration", {"key": "MeterValuesSampledData", "value": measurands}),
        ]

    def var(component: str, variable: str, value: str) -> dict[str, Any]:
        return {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}

    return [
        (
            "SetVariables",
            {
                "setVariableData": [
                    var("OCPPCommCtrlr", "HeartbeatInterval", str(s.heartbeat_interval_s)),
                    var("SampledDataCtrlr", "TxUpdatedInterval", str(s.meter_sample_interval_s)),
                    var("SampledDataCtrlr", "TxUpdatedMeasurands", measurands),
                ]
            },
        )
    ]


def profile_hash(calls: list[tuple[str, dict[str, Any]]], firmware: str | None) -> str:
    return hashlib.sha256(msgspec.json.encode([calls, firmware])).hexdigest()


async def push_boot_config(conn: Connection, firmware: str | None) -> None:
    settings = conn.domain.settings
    profile = profile_calls(conn.version, settings)
    wanted = profile_hash(profile, firmware)
    if conn.charger.boot_config_hash == wanted:
        return
    calls: list[ChargerCall] = []
    for action, payload in profile:
        call = await _make(conn, action, payload, settings.command_timeout_s)
        calls.append(call)
        if call.outcome == "timeout":
            log.info("boot configuration: no answer", extra={"identity": conn.identity, "action": action})
            break
    if await conn.domain.boot_configurations.record(conn.charger.id, calls, profile_hash=wanted):
        conn.charger = msgspec.structs.replace(conn.charger, boot_config_hash=wanted)
        conn.domain.credentials.refresh(conn.charger)


async def _make(conn: Connection, action: str, payload: dict[str, Any], timeout_s: float) -> ChargerCall:
    """Make one CALL; how it ended, in the audit log's terms."""
    requested_at = utcnow()

    def ended(outcome: str, **result: Any) -> ChargerCall:
        return ChargerCall(
            action=action, payload=payload, requested_at=requested_at, answered_at=utcnow(), outcome=outcome, **result
        )

    try:
        answer = await conn.call(action, payload, timeout_s)
    except CallFailed as err:
        return ended("call_error", error_code=err.code, error_description=err.description)
    except OcppError as err:
        return ended("invalid", error_code=err.code, error_description=err.description)
    except (TimeoutError, ConnectionError) as err:
        return ended("timeout", error_description=str(err) or "no answer")
    return ended("answered", answer=answer, answer_status=_status(answer))


def _status(answer: dict[str, Any]) -> str:
    """1.6 answers one status; 2.0.1 one per variable: the worst of them."""
    if "setVariableResult" in answer:
        statuses = {r["attributeStatus"] for r in answer["setVariableResult"]}
        return "Accepted" if statuses <= {"Accepted"} else sorted(statuses - {"Accepted"})[0]
    return str(answer.get("status", "Accepted"))
