"""Errors of paying for a charging session; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict


class NoTariff(Conflict):
    code = "payment.no_tariff"
    title = "This EVSE has no tariff, so no price to authorise"


class StartFailed(Conflict):
    code = "session.start_failed"
    title = "The charger did not start the session; the hold is released"
