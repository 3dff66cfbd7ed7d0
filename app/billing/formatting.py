"""How receipts and invoices write times, energy, durations and VAT rates for people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_time(instant: datetime | None, time_zone: str) -> str:
    """``2026-03-05 14:03 CET``: an instant on the location's wall clock."""
    if instant is None:
        return "–"
    try:
        zone: Any = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def kwh(energy_wh: float) -> str:
    return f"{energy_wh / 1000:.3f} kWh"


def percent(rate_bp: int) -> str:
    whole, rest = divmod(rate_bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
