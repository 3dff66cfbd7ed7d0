"""Errors of tariffs and their assignments; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, InvalidInput, NotFound


class TariffNotFound(NotFound):
    code = "tariff.not_found"
    status = 404
    title = "No such tariff"


class TariffInvalid(InvalidInput):
    """A tariff's terms break a rule; ``field`` names the culprit (e.g. ``bands[1].start``)."""

    code = "tariff.invalid"
    status = 422
    title = "The tariff is not valid"


class TariffCurrencyMismatch(InvalidInput):
    code = "tariff.currency_mismatch"
    status = 422
    title = "A tariff's currency is fixed when it is created"


class TariffInactive(Conflict):
    code = "tariff.inactive"
    status = 409
    title = "The tariff is inactive and cannot be assigned"


class TariffTargetNotFound(NotFound):
    code = "tariff.target_not_found"
    status = 404
    title = "No such EVSE, location or operator"


class TariffAssignmentNotFound(NotFound):
    code = "tariff.assignment_not_found"
    status = 404
    title = "No tariff is assigned here"


class NoTariff(NotFound):
    code = "tariff.none_in_force"
    status = 404
    title = "No tariff applies to this EVSE"
