"""After an accepted BootNotification: push the configuration profile to the charger.

Runs after the boot reply is sent (never inside the handler), one CALL at a time, and
records each call in the command audit log with origin "boot-configuration".
"""

from __future__ import annotations

import logging
from typing import Any

from app.chargers.models import CommandLog
from app.core.database import utcnow
from app.core.settings import OcppSettings
from ocpp_bridge.connection import CallFailed, Connection
from ocpp_bridge.protocol import OcppError, Version

log = logging.getLogger("laddnat.ocpp")


def profile_calls(version: Version, s: OcppSettings) -> list[tuple[str, dict[str, Any]]]:
    measurands = ",".join(s.sampled_measurands)
    if version is Version.V16:
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


async def push_boot_config(conn: Connection) -> None:
    settings = conn.domain.settings
    for action, payload in profile_calls(conn.version, settings):
        entry = CommandLog(
            charge_point_id=conn.charger.id,
            name="boot-configuration",
            args={"action": action, "payload": payload},
            origin="boot-configuration",
            requested_at=utcnow(),
        )
        try:
            answer = await conn.call(action, payload, settings.command_timeout_s)
            entry.outcome, entry.answer = "answered", answer
            entry.answer_status = str(answer.get("status", "Accepted"))
        except CallFailed as err:
            entry.outcome, entry.error_code, entry.error_description = "call_error", err.code, err.description[:255]
        except OcppError as err:
            entry.outcome, entry.error_code, entry.error_description = "invalid", err.code, err.description
        except (TimeoutError, ConnectionError) as err:
            entry.outcome, entry.error_description = "timeout", str(err)[:255] or "no answer"
        entry.answered_at = utcnow()
        async with conn.domain.maker() as db:
            db.add(entry)
            await db.commit()
        if entry.outcome == "timeout":
            log.info("boot configuration: no answer", extra={"identity": conn.identity, "action": action})
            return
