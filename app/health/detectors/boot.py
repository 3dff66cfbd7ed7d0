"""Boot loops and firmware: repeated BootNotifications within a window, and firmware
updates that fail (download, verification, installation).

A boot that follows a reset somebody asked for (an operator, a playbook), a firmware
update's announced reboot, or that the charger itself says was planned (2.0.1 reason
FirmwareUpdate, RemoteReset, ScheduledReset) is not a loop boot: it is not counted."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from app.chargers.events import ChargerBooted, ChargerEventRecorded, CommandAnswered
from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock, Where
from app.health.signals import Signal

FIRMWARE_FAILED = frozenset(
    {
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
    }
)
FIRMWARE_OK = frozenset({"Installed"})
# Firmware statuses that announce the reboot to come (1.6 and 2.0.1): the socket closing
# after them is the update installing, and the boot that follows is not a loop boot.
FIRMWARE_REBOOTING = frozenset(
    {"Downloaded", "SignatureVerified", "InstallScheduled", "Installing", "InstallRebooting"}
)
# 2.0.1 boot reasons of a reboot somebody planned (a crash loop boots PowerUp, Watchdog...).
PLANNED_BOOTS = frozenset({"FirmwareUpdate", "RemoteReset", "ScheduledReset"})
# Firmware statuses after which no reboot comes (2.0.1's verdicts before installing).
FIRMWARE_NO_REBOOT = frozenset({"DownloadFailed", "InvalidSignature", "InstallVerificationFailed"})


class BootDetector:
    def __init__(self, settings: HealthSettings, clock: Clock) -> None:
        self.s = settings
        self.clock = clock
        self.window = timedelta(seconds=settings.boot_loop_window_s)
        self.boots: dict[str, deque[tuple[datetime, str | None]]] = {}
        self.raised: set[Where] = set()
        # Chargers told to reset (an accepted Reset) or announcing a firmware reboot: their
        # next boot is expected, until then.
        self.reset_asked: dict[str, datetime] = {}

    def feed(self, event: Event) -> list[Signal]:
        if isinstance(event, CommandAnswered):
            if event.name == "reset" and event.status in ("Accepted", "Scheduled"):
                self.reset_asked[event.identity] = self.clock() + timedelta(seconds=self.s.reboot_grace_s)
            return []
        if isinstance(event, ChargerBooted):
            expected_until = self.reset_asked.pop(event.identity, None)
            if expected_until is not None and self.clock() <= expected_until:
                return []
            if event.reason in PLANNED_BOOTS:
                return []  # the charger says someone asked for it (2.0.1 BootReason)
            return self._boot(event)
        if isinstance(event, ChargerEventRecorded) and event.kind == "firmware_status":
            if event.code in FIRMWARE_REBOOTING:
                self.reset_asked[event.identity] = self.clock() + timedelta(seconds=self.s.reboot_grace_s)
            elif event.code in FIRMWARE_NO_REBOOT:
                self.reset_asked.pop(event.identity, None)
            return self._firmware(event)
        return []

    def tick(self, now: datetime) -> list[Signal]:
        """A loop ends when the charger stays up for a whole window."""
        out = []
        for where in [w for w in self.raised if w[2] == "boot_loop"]:
            boots = self.boots.get(where[0])
            if not boots or now - boots[-1][0] > self.window:
                self.raised.discard(where)
                out.append(
                    Signal(
                        kind="boot_loop",
                        identity=where[0],
                        topic="boot_loop",
                        at=now,
                        clears=True,
                        summary=f"Charger {where[0]} has stayed up for {self.window.total_seconds():.0f} s.",
                    )
                )
        return out

    def _boot(self, e: ChargerBooted) -> list[Signal]:
        now = self.clock()
        boots = self.boots.setdefault(e.identity, deque())
        boots.append((now, e.reason))
        while boots and now - boots[0][0] > self.window:
            boots.popleft()
        where = (e.identity, None, "boot_loop")
        if len(boots) < self.s.boot_loop_count or where in self.raised:
            return []
        self.raised.add(where)
        return [
            Signal(
                kind="boot_loop",
                identity=e.identity,
                topic="boot_loop",
                at=now,
                severity="critical",
                cause="internal_firmware",
                confidence=0.7,
                summary=f"Charger {e.identity} booted {len(boots)} times in "
                f"{self.window.total_seconds() / 60:.0f} minutes (firmware {e.firmware_version or 'unknown'}).",
                evidence={
                    "boots": [{"at": at.isoformat(), "reason": reason} for at, reason in boots],
                    "firmwareVersion": e.firmware_version,
                    "thresholds": {"count": self.s.boot_loop_count, "windowS": self.s.boot_loop_window_s},
                },
            )
        ]

    def _firmware(self, e: ChargerEventRecorded) -> list[Signal]:
        where = (e.identity, None, "firmware")
        if e.code in FIRMWARE_FAILED:
            if where in self.raised:
                return []
            self.raised.add(where)
            return [
                Signal(
                    kind="firmware",
                    identity=e.identity,
                    topic="firmware",
                    at=self.clock(),
                    severity="warning",
                    cause="internal_firmware",
                    confidence=0.8,
                    summary=f"Charger {e.identity}'s firmware update failed: {e.code}.",
                    evidence={"status": e.code, "data": e.data},
                )
            ]
        if e.code in FIRMWARE_OK and where in self.raised:
            self.raised.discard(where)
            return [
                Signal(
                    kind="firmware",
                    identity=e.identity,
                    topic="firmware",
                    at=self.clock(),
                    clears=True,
                    summary=f"Charger {e.identity}'s firmware is {e.code}.",
                    evidence={"status": e.code},
                )
            ]
        return []
