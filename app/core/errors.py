"""DomainError: every error an area raises on purpose, with a stable public code."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Subclass with ``code``, ``status`` and ``title``; a code is public API, never renamed."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class InvalidInput(DomainError):
    code = "validation_failed"
    status = 422
    title = "The request is not valid"
