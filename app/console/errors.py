"""Errors of the operator console; each code is public API."""

from __future__ import annotations

from app.core.errors import DomainError


class CsrfFailed(DomainError):
    code = "console.csrf_failed"
    status = 403
    title = "The form's security token or origin did not match: reload the page and try again"


class SignInRequired(DomainError):
    code = "console.sign_in_required"
    status = 401
    title = "Sign in to the console first"
