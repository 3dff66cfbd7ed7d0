"""Errors of billing. Each code is public API (problem+json ``code``): dotted, unique, never renamed."""

from __future__ import annotations

from app.core.errors import Conflict, DomainError, InvalidInput, NotFound

# -- paid sessions --------------------------------------------------------------------------


class NoTariff(Conflict):
    code = "payment.no_tariff"
    status = 409
    title = "This EVSE has no tariff, so no price to authorise"


class StartFailed(Conflict):
    code = "session.start_failed"
    status = 409
    title = "The charger did not start the session; the hold is released"


# -- receipts -------------------------------------------------------------------------------


class ReceiptNotFound(NotFound):
    code = "receipt.not_found"
    status = 404
    title = "No receipt: the payment does not exist or took no money"


# -- fleet accounts and invoices ------------------------------------------------------------


class FleetAccountNotFound(NotFound):
    code = "fleet.account_not_found"
    status = 404
    title = "No such fleet account"


class FleetTokenTaken(Conflict):
    code = "fleet.token_taken"
    status = 409
    title = "The id token is already billed to another fleet account"


class OperatorRequired(InvalidInput):
    code = "fleet.operator_required"
    status = 422
    title = "Say which operator the account belongs to"


class InvoiceNotFound(NotFound):
    code = "invoice.not_found"
    status = 404
    title = "No such invoice"


class NothingToInvoice(Conflict):
    code = "invoice.nothing_to_invoice"
    status = 409
    title = "The account has no priced sessions in that month"


class InvoicePeriodOpen(Conflict):
    code = "invoice.period_open"
    status = 409
    title = "The month has not ended yet"


class InvoiceCurrencyMismatch(Conflict):
    code = "invoice.currency_mismatch"
    status = 409
    title = "Sessions of the month are priced in another currency than the account's"


# -- reconciliation -------------------------------------------------------------------------


class SettlementsUnavailable(DomainError):
    code = "reconciliation.provider_unavailable"
    status = 502
    title = "The payment provider did not give its settlement lines"
