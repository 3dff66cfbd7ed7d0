"""A clock the detector tests move by hand."""

from __future__ import annotations

from datetime import datetime, timedelta


class HandClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
