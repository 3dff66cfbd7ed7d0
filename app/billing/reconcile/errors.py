"""Errors of reconciliation; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict


class ProviderNotConfigured(Conflict):
    """The PSP named is not set up on this instance: the request cannot succeed as long as
    the configuration stays, so it is the caller's to change (not a 503 to retry)."""

    code = "reconciliation.provider_not_configured"
    status = 409
    title = "That payment provider is not configured"
