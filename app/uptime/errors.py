"""Uptime errors (problem+json codes are public API)."""

from __future__ import annotations

from app.core.errors import InvalidInput, NotFound


class ExclusionNotFound(NotFound):
    code = "uptime.exclusion_not_found"
    status = 404
    title = "No such uptime exclusion"


class InvalidExclusionPeriod(InvalidInput):
    code = "uptime.invalid_period"
    status = 422
    title = "An exclusion ends after it starts"


class UnknownExclusionTarget(InvalidInput):
    code = "uptime.unknown_target"
    status = 422
    title = "No such port, charge point or location"


class ExclusionNoteRequired(InvalidInput):
    code = "uptime.note_required"
    status = 422
    title = "Say in the note what the other reason is"


class InvalidMonth(InvalidInput):
    code = "uptime.invalid_month"
    status = 422
    title = "A month is YYYY-MM and not in the future"


class InvalidMonthRange(InvalidInput):
    code = "uptime.invalid_range"
    status = 422
    title = "The range of months is not valid"
