"""Bus events about tariffs (e.g. for roaming partners' tariff feeds)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from app.core.bus import Event


class TariffChanged(Event, frozen=True, kw_only=True):
    """Created or changed; sessions already started keep their snapshot."""

    subject: ClassVar[str] = "tariff.changed"
    tariff_id: uuid.UUID
    version: int
    at: datetime


class TariffAssignmentChanged(Event, frozen=True, kw_only=True):
    """``tariff_id`` None: the target's own assignment was removed."""

    subject: ClassVar[str] = "tariff.assignment_changed"
    scope: str
    target_id: uuid.UUID
    tariff_id: uuid.UUID | None
    at: datetime
