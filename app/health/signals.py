"""What a detector says: a ``Signal`` about one charger (or connector), or its recovery.

Signals are cheap, in-memory and pure; ``IncidentService`` turns them into incidents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

Severity = Literal["info", "warning", "critical"]

# The root causes an incident is diagnosed as (a fixed vocabulary: operators filter on it).
CAUSES = (
    "overheating",
    "grid_supply",
    "site_network",
    "vehicle_communication",
    "metering",
    "connector_lock",
    "internal_firmware",
    "rfid_reader",
    # A protection device tripped (over-current, earth leakage): the car or cable, the
    # supply or the charger's power stage; never a firmware matter.
    "electrical_protection",
    "unknown",
)
# The detectors (an incident's ``kind``).
KINDS = (
    "offline",
    "reported_error",
    "overheating",
    "power_supply",
    "metering",
    "failed_starts",
    "vehicle_communication",
    "boot_loop",
    "firmware",
    "anomaly",
)


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """One detector's finding (or, with ``clears``, that its condition is gone).

    ``evse`` None means the whole charger. ``topic`` distinguishes several conditions of
    one detector on one EVSE (e.g. ``voltage`` and ``frequency``); the incident dedupe key
    is charger + evse + kind + topic. ``evidence`` holds what a technician reads: the
    samples, codes and thresholds that made the detector fire.
    """

    kind: str
    identity: str
    at: datetime
    evse: int | None = None
    connector: int | None = None
    topic: str = ""
    severity: Severity = "warning"
    cause: str = "unknown"  # the detector's hint; diagnosis may refine it
    confidence: float = 0.5
    summary: str = ""
    evidence: dict[str, Any] = msgspec.field(default_factory=dict)
    clears: bool = False

    @property
    def key(self) -> str:
        return dedupe_key(self.identity, self.evse, self.kind, self.topic)


def dedupe_key(identity: str, evse: int | None, kind: str, topic: str = "") -> str:
    where = "*" if evse is None else str(evse)
    return f"cp:{identity}:{where}:{kind}:{topic}"


def site_key(location: str, kind: str, topic: str = "") -> str:
    return f"site:{location}:{kind}:{topic}"
