"""Offline: silent for two heartbeat intervals plus a grace period, or the socket closed
and not back within about a heartbeat interval (``reconnect_grace_s``: real chargers drop
and reopen sockets all the time, a blip is no outage), or, after an announced reboot (a
Reset we sent and it accepted, a firmware update installing), within ``reboot_grace_s``.

Heartbeats are not bus events (the bridge only stamps ``last_seen_at``), so the monitor
refreshes ``last_seen`` from the database for the chargers ``suspects`` names: those
silent on the bus for a heartbeat interval. In steady state that is a handful of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.chargers.events import ChargerConnected, ChargerDisconnected, ChargerEventRecorded, CommandAnswered
from app.core.bus import Event
from app.core.settings import HealthSettings
from app.health.detectors.base import Clock
from app.health.detectors.boot import FIRMWARE_NO_REBOOT, FIRMWARE_REBOOTING
from app.health.signals import Signal


@dataclass
class _Link:
    last_seen: datetime
    connected: bool
    disconnected_at: datetime | None = None
    offline: bool = False
    # When (the bridge's clock) its current socket opened: a disconnect of an older socket,
    # published late (batches commit in parallel), is not this one's.
    connected_at: datetime | None = None
    # A reset was accepted: until then a closed socket is the reboot, not an outage.
    rebooting_until: datetime | None = None


class OfflineDetector:
    def __init__(self, settings: HealthSettings, heartbeat_interval_s: float, clock: Clock) -> None:
        self.clock = clock
        self.heartbeat = timedelta(seconds=heartbeat_interval_s)
        self.grace = timedelta(seconds=settings.offline_grace_s)
        self.silence = 2 * self.heartbeat + self.grace
        # A closed socket waits about a heartbeat interval, never longer than silence does:
        # a dead charger is still told within two heartbeat intervals plus the grace.
        reconnect = settings.reconnect_grace_s
        self.reconnect = min(
            self.heartbeat + self.grace if reconnect is None else timedelta(seconds=reconnect), self.silence
        )
        self.reboot_grace = timedelta(seconds=settings.reboot_grace_s)
        self.links: dict[str, _Link] = {}

    # -- state from outside the bus ------------------------------------------------

    def restore(self, identity: str, last_seen: datetime | None, *, offline: bool) -> None:
        """At start: what the database says. A charger disconnected at a restart (a deploy
        drops every socket) gets the full silence threshold to come back, counted from now;
        one with an open offline incident stays offline until it is heard from."""
        now = self.clock()
        if last_seen is None and not offline:
            return  # never connected: not installed yet, nothing to watch
        self.links[identity] = _Link(last_seen=now, connected=True, offline=offline)

    def seen(self, identity: str, at: datetime | None) -> list[Signal]:
        """A ``last_seen_at`` read from the database (heartbeats)."""
        link = self.links.get(identity)
        if link is None or at is None or at <= link.last_seen:
            return []
        link.last_seen = at
        if link.offline and link.connected:
            return [self._back(identity, link, "heartbeat")]
        return []

    def suspects(self, now: datetime) -> list[str]:
        """Connected chargers silent on the bus for a heartbeat interval: read their
        ``last_seen_at`` before judging them."""
        # One cut-off, compared: this runs over every charger at every tick.
        cutoff = now - self.heartbeat
        return [i for i, link in self.links.items() if link.connected and link.last_seen <= cutoff]

    def is_dark(self, identity: str, now: datetime) -> bool:
        """Offline already, or plausibly so: disconnected, or silent longer than a healthy
        charger can be (one heartbeat interval plus the grace)."""
        link = self.links.get(identity)
        if link is None:
            return False
        if link.offline or not link.connected:
            return True
        return now - link.last_seen > self.heartbeat + self.grace

    def is_down(self, identity: str) -> bool:
        """Told offline already (its offline signal went out, and it is not back)."""
        link = self.links.get(identity)
        return link is not None and link.offline

    # -- bus ---------------------------------------------------------------------------

    def feed(self, event: Event) -> list[Signal]:
        identity = getattr(event, "identity", None)
        if not isinstance(identity, str):
            return []
        if isinstance(event, CommandAnswered) and event.outcome != "answered":
            return []  # our command to it, unanswered: not a sign of life
        now = self.clock()
        link = self.links.get(identity)
        if isinstance(event, CommandAnswered) and event.name == "reset" and link is not None:
            if event.status in ("Accepted", "Scheduled"):
                link.rebooting_until = now + self.reboot_grace
        if isinstance(event, ChargerEventRecorded) and event.kind == "firmware_status" and link is not None:
            # A firmware update announces its reboot: the socket closing next is the install.
            if event.code in FIRMWARE_REBOOTING:
                link.rebooting_until = now + self.reboot_grace
            elif event.code in FIRMWARE_NO_REBOOT:
                link.rebooting_until = None
        if isinstance(event, ChargerDisconnected):
            if link is not None and link.connected_at is not None and event.at < link.connected_at:
                return []  # the old socket's close, told after the new one's open
            if link is None:
                link = self.links[identity] = _Link(last_seen=now, connected=False)
            link.connected, link.disconnected_at = False, now
            return []
        if link is None:
            link = self.links[identity] = _Link(last_seen=now, connected=True)
            if isinstance(event, ChargerConnected):
                link.connected_at = event.at
            return []
        link.last_seen = now
        if isinstance(event, ChargerConnected):
            link.connected, link.disconnected_at, link.rebooting_until = True, None, None
            link.connected_at = max(event.at, link.connected_at or event.at)
        if link.offline and link.connected:
            return [self._back(identity, link, type(event).__name__)]
        return []

    def tick(self, now: datetime) -> list[Signal]:
        # Cut-offs computed once and compared, not a subtraction per charger: this runs over
        # every charger at every tick (38,000 cost a worker ~10 % of a core on a slow machine).
        silent_since = now - self.silence
        closed_since = now - self.reconnect
        closed_since_rebooting = now - max(self.reboot_grace, self.reconnect)
        out = []
        for identity, link in self.links.items():
            if link.offline:
                continue
            if link.connected:
                if link.last_seen <= silent_since:
                    out.append(self._offline(identity, link, now, "silent", now - link.last_seen))
                continue
            closed = link.disconnected_at
            if closed is None:
                continue
            rebooting = link.rebooting_until is not None and closed <= link.rebooting_until
            if closed <= (closed_since_rebooting if rebooting else closed_since):
                out.append(self._offline(identity, link, now, "socket_closed", now - closed))
        return out

    def _offline(self, identity: str, link: _Link, now: datetime, reason: str, dark: timedelta) -> Signal:
        link.offline = True
        what = (
            "its connection closed and it did not come back"
            if reason == "socket_closed"
            else "it sent nothing for two heartbeat intervals"
        )
        return Signal(
            kind="offline",
            identity=identity,
            at=now,
            severity="critical",
            cause="site_network",
            confidence=0.4,
            summary=f"Charger {identity} is offline: {what}.",
            evidence={
                "reason": reason,
                "lastSeenAt": link.last_seen.isoformat(),
                "disconnectedAt": link.disconnected_at.isoformat() if link.disconnected_at else None,
                "darkForS": round(dark.total_seconds(), 1),
                "thresholds": {
                    "heartbeatIntervalS": self.heartbeat.total_seconds(),
                    "graceS": self.grace.total_seconds(),
                    "reconnectS": self.reconnect.total_seconds(),
                },
            },
        )

    def _back(self, identity: str, link: _Link, via: str) -> Signal:
        link.offline = False
        return Signal(
            kind="offline",
            identity=identity,
            at=self.clock(),
            clears=True,
            summary=f"Charger {identity} is back online.",
            evidence={"via": via},
        )
