"""Errors of charging sessions and their transactions; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class TransactionNotFound(NotFound):
    code = "transaction.not_found"
    status = 404
    title = "No such transaction"


class TransactionNotActive(Conflict):
    code = "transaction.not_active"
    status = 409
    title = "The transaction has already ended"


class SessionNotFound(NotFound):
    """No such session, or someone else's (never 403)."""

    code = "session.not_found"
    status = 404
    title = "No such session"


class EvseUnavailable(Conflict):
    """Why a session cannot start here now; ``reason``: offline, out_of_order, in_use,
    reserved or unknown (the EVSE's health, app/driver_app/evse_health.py)."""

    code = "session.evse_unavailable"
    status = 409
    title = "A session cannot start on this EVSE now"


class SessionNotActive(Conflict):
    code = "session.not_active"
    status = 409
    title = "The session is not charging"
