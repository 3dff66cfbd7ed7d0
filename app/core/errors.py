"""DomainError: every error an area raises on purpose, with a stable public code.

Each area keeps its errors in its own ``errors.py``. A code is ``area.what`` in lower snake
case, unique across the project, and every class states its own ``code``, ``status`` and
``title`` (tests/unit/test_error_codes.py checks all three; docs/errors.md lists them).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Subclass with ``code``, ``status`` and ``title``; a code is public API, never renamed."""

    code: ClassVar[str] = "server.internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


# -- the kernel's own: generic answers, also given for requests no route or schema accepts --


class NotFound(DomainError):
    code = "request.not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "request.conflict"
    status = 409
    title = "Conflict"


class InvalidInput(DomainError):
    code = "request.invalid"
    status = 422
    title = "The request is not valid"


class DatabaseUnavailable(DomainError):
    code = "db.unavailable"
    status = 503
    title = "The database is not reachable"


class BusUnreachable(DomainError):
    """Readiness: the message bus did not answer its ping (NATS down or unreachable)."""

    code = "bus.unreachable"
    status = 503
    title = "The message bus is not reachable"


# -- who is calling (the guards in app/core/auth.py) ---------------------------------------


class Unauthenticated(DomainError):
    code = "auth.unauthenticated"
    status = 401
    title = "Authentication required"


class InvalidToken(DomainError):
    """A presented token is expired, malformed, not ours, or its user is gone."""

    code = "auth.invalid_token"
    status = 401
    title = "The token is not valid"


class TokenRevoked(DomainError):
    """An access token issued before the user logged out everywhere or changed password."""

    code = "auth.token_revoked"
    status = 401
    title = "The token was revoked; sign in again"


class Forbidden(DomainError):
    code = "auth.forbidden"
    status = 403
    title = "Not allowed for this account"
