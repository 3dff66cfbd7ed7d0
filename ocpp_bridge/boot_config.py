"""After an accepted BootNotification: push the configuration profile to the charger.

Runs after the boot reply is sent (never inside the handler), one CALL at a time, and
only when the profile or the charger's firmware changed since the last push it accepted,
so a reconnect storm doesn't become three CALLs per charger. Each call is recorded in the
command audit log with origin "boot-configuration".
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, insert, update

from app.chargers.models import ChargePoint, CommandLog
from app.core.batching import Write
from app.core.database import new_id, utcnow
from app.core.settings import OcppSettings
from ocpp_bridge.connection import CallFailed, Connection
from ocpp_bridge.protocol import OcppError, Version

log = logging.getLogger("laddnat.ocpp")

_log_t = cast(Table, CommandLog.__table__)
_cp_t = cast(Table, ChargePoint.__table__)
RECORD = insert(_log_t)
REMEMBER = update(_cp_t).where(_cp_t.c.id == bindparam("cp")).values(boot_config_hash=bindparam("hash"))


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
    calls = profile_calls(conn.version, settings)
    wanted = profile_hash(calls, firmware)
    if conn.charger.boot_config_hash == wanted:
        return
    writes: list[Write] = []
    all_accepted = True
    for action, payload in calls:
        row: dict[str, Any] = {
            "id": new_id(),
            "charge_point_id": conn.charger.id,
            "name": "boot-configuration",
            "args": {"action": action, "payload": payload},
            "requested_by": None,
            "origin": "boot-configuration",
            "requested_at": utcnow(),
            "outcome": "answered",
            "answer_status": None,
            "answer": None,
            "error_code": None,
            "error_description": None,
        }
        try:
            answer = await conn.call(action, payload, settings.command_timeout_s)
            row["answer"], row["answer_status"] = answer, _status(answer)
            all_accepted = all_accepted and row["answer_status"] in ("Accepted", "RebootRequired")
        except CallFailed as err:
            row.update(outcome="call_error", error_code=err.code, error_description=err.description[:255])
            all_accepted = False
        except OcppError as err:
            row.update(outcome="invalid", error_code=err.code, error_description=err.description[:255])
            all_accepted = False
        except (TimeoutError, ConnectionError) as err:
            row.update(outcome="timeout", error_description=str(err)[:255] or "no answer")
            all_accepted = False
        row["answered_at"] = utcnow()
        writes.append(Write(RECORD, row))
        if row["outcome"] == "timeout":
            log.info("boot configuration: no answer", extra={"identity": conn.identity, "action": action})
            break
    if all_accepted:
        writes.append(Write(REMEMBER, {"cp": conn.charger.id, "hash": wanted}))
    await conn.domain.writer.submit(writes)
    if all_accepted:
        conn.charger = msgspec.structs.replace(conn.charger, boot_config_hash=wanted)
        conn.domain.credentials.refresh(conn.charger)


def _status(answer: dict[str, Any]) -> str:
    """1.6 answers one status; 2.0.1 one per variable: the worst of them."""
    if "setVariableResult" in answer:
        statuses = {r["attributeStatus"] for r in answer["setVariableResult"]}
        return "Accepted" if statuses <= {"Accepted"} else sorted(statuses - {"Accepted"})[0]
    return str(answer.get("status", "Accepted"))
