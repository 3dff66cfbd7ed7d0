"""How a partner's pushes stand, as the operator API shows it beside the partner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class PushStats:
    last_delivered_at: datetime | None = None
    pending: int = 0
    failed: int = 0  # given up after the last attempt
    last_error: str | None = None
