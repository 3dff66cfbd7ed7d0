"""What every detector shares: the clock type and the events they read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from app.core.bus import Event
from app.health.signals import Signal

Clock = Callable[[], datetime]


class Detector(Protocol):
    """Pure and in-memory: ``feed`` each bus event, ``tick`` once a second; both return
    the signals that arose. O(1) per event: MeterSampled arrives for every meter value."""

    def feed(self, event: Event) -> list[Signal]: ...

    def tick(self, now: datetime) -> list[Signal]: ...


def evse_of(evse: int | None) -> int | None:
    """EVSE 0 (1.6 connector 0) is the charger itself: None, like a charger-wide signal."""
    return None if evse in (None, 0) else evse


Where = tuple[str, int | None, str]  # identity, evse (None: the charger), topic
