"""Errors of moving money with a PSP; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, DomainError, NotFound


class PaymentNotFound(NotFound):
    code = "payment.not_found"
    status = 404
    title = "No such payment"


class PaymentDeclined(DomainError):
    code = "payment.declined"
    status = 402
    title = "The card was declined"


class ProviderUnavailable(DomainError):
    """The PSP failed or did not answer; drivers' saved cards raise this one too."""

    code = "payment.provider_unavailable"
    status = 503
    title = "The payment provider did not answer; try again"


class RefundNotAllowed(Conflict):
    code = "payment.refund_not_allowed"
    status = 409
    title = "This payment cannot be refunded by that amount"


class PaymentsNotConfigured(DomainError):
    """No PSP is set up for this: a fact of the configuration, not an outage, so a 4xx
    (a client retrying a 503 would wait for nothing)."""

    code = "payment.not_configured"
    status = 409
    title = "Card payments are not configured for this operator"


class InvalidWebhook(DomainError):
    """A PSP notification we cannot trust (not an operator's webhook endpoint: that is
    ``webhook.invalid``)."""

    code = "payment.webhook_invalid"
    status = 400
    title = "The notification's signature is missing, forged or stale"


class UnknownProvider(NotFound):
    code = "webhook.unknown_provider"
    status = 404
    title = "No such payment provider is configured"
