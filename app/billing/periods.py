"""The time ranges billing documents cover: report ranges and invoice months, in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from app.core.errors import InvalidInput

# A report (or reconciliation) longer than this is refused: split it.
MAX_RANGE = timedelta(days=400)


def check_range(since: datetime, until: datetime) -> None:
    """Raise ``InvalidInput`` unless [since, until) is a non-empty, aware range of at most ``MAX_RANGE``."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("from and to need a time zone (e.g. 2026-03-01T00:00:00Z)", field="from")
    if until <= since:
        raise InvalidInput("to must be after from", field="to")
    if until - since > MAX_RANGE:
        raise InvalidInput(f"a report covers at most {MAX_RANGE.days} days", field="to")


def month_period(month: str) -> tuple[date, date]:
    """``"2026-03"`` -> (2026-03-01, 2026-04-01): the month, end exclusive."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        start = date(year, mon, 1)
    except ValueError:
        raise InvalidInput("month must be YYYY-MM", field="month") from None
    end = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return start, end


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
