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


class WebhookTargetForbidden(InvalidInput):
    """The URL's host is (or resolves to) a loopback, private, link-local, shared or other
    non-public address; ``field`` is ``url``. LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS lifts it."""

    code = "webhook.target_forbidden"
    status = 422
    title = "Webhooks are delivered to public addresses only"


class WebhookInactive(Conflict):
    code = "webhook.inactive"
    status = 409
    title = "The webhook endpoint is inactive"
