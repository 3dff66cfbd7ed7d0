"""Whether a charger does smart charging: asked of the charger itself, once per boot.

Nothing in our records says it (the operator API just sends SetChargingProfile and shows
the charger's answer), but OCPI wants NOT_SUPPORTED in the synchronous answer. So the
charger is asked what it declares (1.6 SupportedFeatureProfiles lists SmartCharging; 2.0.1
SmartChargingCtrlr.Enabled, else .Available, is true) through the command path, audited
like any command, and the answer is remembered in this process until its next boot (a
firmware update may change it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint
from app.core.bus import Bus
from app.core.errors import DomainError
from app.core.settings import Settings
from app.sessions.commands import CommandService

# The synchronous answer waits for this at most.
ASK_TIMEOUT_S = 5.0

# Per charger and boot; forgotten wholesale past KNOWN_MAX (a boot makes a new key).
KNOWN_MAX = 50_000
_known: dict[tuple[uuid.UUID, datetime | None], bool] = {}


def _true(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "true"


def declares_smart_charging(version: str | None, answer: dict[str, Any]) -> bool:
    """What the charger's answer (1.6 GetConfiguration, 2.0.1 GetVariables) declares."""
    if version == "1.6":
        for entry in answer.get("configurationKey", answer.get("configuration_key")) or []:
            if isinstance(entry, dict) and entry.get("key") == "SupportedFeatureProfiles":
                profiles = str(entry.get("value") or "").split(",")
                return "SmartCharging" in (p.strip() for p in profiles)
        return False
    values: dict[str, Any] = {}
    for result in answer.get("getVariableResult", answer.get("get_variable_result")) or []:
        if not isinstance(result, dict):
            continue
        status = result.get("attributeStatus", result.get("attribute_status"))
        variable = (result.get("variable") or {}).get("name")
        if status == "Accepted" and variable:
            values[variable] = result.get("attributeValue", result.get("attribute_value"))
    if "Enabled" in values:
        return _true(values["Enabled"])
    return _true(values.get("Available"))


async def smart_charging(
    db: AsyncSession, bus: Bus, settings: Settings, charger: ChargePoint, origin: str
) -> bool | None:
    """True / False as the charger declares; None when it could not be asked."""
    key = (charger.id, charger.last_boot_at)
    if key in _known:
        return _known[key]
    commands = CommandService(
        db,
        bus,
        public_base_url=settings.http.public_base_url,
        timeout_s=min(ASK_TIMEOUT_S, settings.ocpp.command_timeout_s),
        tenant_id=charger.operator_id,
    )
    args: dict[str, Any]
    if charger.ocpp_version == "1.6":
        name, args = "get-configuration", {"keys": ["SupportedFeatureProfiles"]}
    else:
        name = "get-variables"
        args = {
            "variables": [
                {"component": "SmartChargingCtrlr", "variable": "Enabled"},
                {"component": "SmartChargingCtrlr", "variable": "Available"},
            ]
        }
    try:
        entry = await commands.send(charger.id, name, args, origin=origin)
    except DomainError:
        return None
    supported = declares_smart_charging(charger.ocpp_version, entry.answer or {})
    if len(_known) >= KNOWN_MAX:
        _known.clear()
    _known[key] = supported
    return supported
