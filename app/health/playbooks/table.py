"""The playbooks themselves: for each cause, its steps in order (each stronger than the last),
and the settings a runner takes them with. Pure data: nothing here sends anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.settings import Settings
from app.health.events import IncidentOpened

RESETS = frozenset({"soft_reset", "hard_reset"})
# Steps that protect a charger and whoever uses it without claiming to heal it (less power
# for a hot one, a driver's cable freed): a fleet incident sends these, and only these, to
# each of its members.
PROTECTIVE = frozenset({"limit_power", "unlock"})
# Causes whose evidence may be in the charger's own logs (not offline, not the grid).
DIAGNOSED_CAUSES = frozenset(
    {
        "internal_firmware",
        "metering",
        "vehicle_communication",
        "connector_lock",
        "rfid_reader",
        "overheating",
        "electrical_protection",
        "unknown",
    }
)


@dataclass(frozen=True)
class Step:
    name: str  # soft_reset | hard_reset | unlock | limit_power | stop_session | trigger_status | out_of_service
    # The command and its arguments for this incident (None: nothing to send, e.g. wait).
    command: str | None
    args: Callable[[IncidentOpened], dict[str, Any]] = field(default=lambda _: {})
    # Taken only once the trouble recurs (the incident re-opened, or its evidence says so);
    # until then the playbook waits and sends nothing.
    only_if_recurring: bool = False


def evse_of(incident: IncidentOpened) -> int:
    """The EVSE a step addresses: the incident's, or the first for a charger-wide one."""
    return incident.evse or 1


PLAYBOOKS: dict[str, tuple[Step, ...]] = {
    "internal_firmware": (
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("hard_reset", "reset", lambda _: {"kind": "hard"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "connector_lock": (
        Step("unlock", "unlock-connector", lambda i: {"evse": evse_of(i)}),
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "overheating": (
        # Half the power first (a charging profile), then stop the session, then take it out.
        Step(
            "limit_power",
            "set-charging-profile",
            lambda i: {"limit": 0.0, "unit": "W", "evse": evse_of(i), "purpose": "TxDefault"},
        ),
        Step("stop_session", "remote-stop"),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "metering": (
        Step("trigger_meter_values", "trigger-message", lambda i: {"message": "MeterValues", "evse": evse_of(i)}),
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "vehicle_communication": (
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    "rfid_reader": (
        Step("soft_reset", "reset", lambda _: {"kind": "soft"}),
        Step("out_of_service", "change-availability", lambda i: {"operative": False, "evse": i.evse or 0}),
    ),
    # A tripped protection device (over-current, earth leakage) is never reset into: a reset
    # closes the contactor on the same fault. The first trip is left to the charger's own
    # reclosing and a technician's reading of the evidence; a recurrence takes the EVSE out.
    "electrical_protection": (
        Step(
            "out_of_service",
            "change-availability",
            lambda i: {"operative": False, "evse": i.evse or 0},
            only_if_recurring=True,
        ),
    ),
    # Nothing on the charger can heal the grid or the site's network: wait, and when the
    # charger is back (the incident resolves) ask it for its status (see Remediator._on_resolved).
    "grid_supply": (),
    "site_network": (),
    "unknown": (),
}


@dataclass(frozen=True)
class PlaybookSettings:
    verify_s: float = 90.0  # how long a step has to heal before the next
    max_resets_per_day: int = 3  # per charger: a flapping charger is not reset forever
    wait_for_idle_s: float = 600.0  # a reset waits this long for a running session to end
    heal: bool = True  # run the playbooks (off: only collect diagnostics)
    collect_diagnostics: bool = False  # ask for the charger's logs first and attach them
    diagnostics_wait_s: float = 60.0  # how long the first step waits for the upload
    recheck_s: float = 30.0  # out of service: how long fresh data has to change the verdict

    @classmethod
    def of(cls, settings: Settings) -> PlaybookSettings:
        """The process's ``LADDNAT_HEALTH_*`` settings for playbooks."""
        return cls(
            verify_s=settings.health.playbook_verify_s,
            max_resets_per_day=settings.health.max_resets_per_day,
            wait_for_idle_s=settings.health.reset_wait_for_idle_s,
            heal=settings.health.self_healing,
            collect_diagnostics=settings.health.collect_diagnostics,
            diagnostics_wait_s=settings.health.diagnostics_wait_s,
            recheck_s=settings.health.out_of_service_recheck_s,
        )
