"""Errors of operator webhooks; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, InvalidInput, NotFound


class WebhookNotFound(NotFound):
    """No such endpoint, or another operator's (never 403)."""

    code = "webhook.not_found"
    status = 404
    title = "No such webhook endpoint"


class WebhookInvalid(InvalidInput):
    """``field`` names the culprit (``url``, ``events``)."""

    code = "webhook.invalid"
    status = 422
    title = "The webhook endpoint is not valid"


class WebhookInactive(Conflict):
    code = "webhook.inactive"
    status = 409
    title = "The webhook endpoint is inactive"
