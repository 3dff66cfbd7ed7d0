"""The one interface the rest of Laddnät sees of a payment service provider (PSP).

Amounts are integer minor units of an ISO-4217 currency. Every call that moves money takes
an idempotency key derived from our payment id and the action (see ``idempotency_key``),
so a retry after a timeout can never charge twice. Nothing outside ``payments/`` imports a
PSP's SDK; nothing here ever sees card data (the card is entered in the PSP's own elements).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, Protocol

import msgspec

ProviderName = Literal["stripe", "adyen"]

# What a hold request ended as, right away:
#   authorised: the amount is reserved on the card (a saved card confirmed off-session);
#   pending: the shopper still has to act in the PSP's element (client_secret / session);
#   failed: declined or refused; ``failure_code`` says why.
HoldStatus = Literal["authorised", "pending", "failed"]

# The normalised kind of a PSP notification.
EventKind = Literal[
    "authorised",  # the hold is in place (Stripe amount_capturable_updated, Adyen AUTHORISATION ok)
    "authorisation_failed",  # declined / refused / expired before capture
    "captured",  # money taken (Stripe payment_intent.succeeded / charge.captured, Adyen CAPTURE ok)
    "capture_failed",  # Adyen CAPTURE_FAILED, CAPTURE success=false
    "cancelled",  # hold released (Stripe payment_intent.canceled, Adyen CANCELLATION ok)
    "refunded",  # a refund went through (amount = this refund)
    "refund_failed",
    "ignored",  # a notification we accept and do not act on
]


class PaymentMethod(msgspec.Struct, frozen=True, kw_only=True):
    """What the PSP tells about the card or wallet: never more than brand and last four."""

    brand: str | None = None  # "visa", "mc", "amex", ...
    last4: str | None = None
    wallet: str | None = None  # "apple_pay", "google_pay", ...


class HoldRequest(msgspec.Struct, frozen=True, kw_only=True):
    payment_id: uuid.UUID
    amount_minor: int
    currency: str  # ISO-4217, upper case
    description: str
    # An app user's saved card: confirm off-session at once (no shopper present).
    customer_ref: str | None = None
    payment_method_ref: str | None = None
    # Where the PSP sends the shopper after a redirect (3-D Secure) in the web checkout.
    return_url: str | None = None
    statement_descriptor: str | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """A hold as the PSP created it."""

    status: HoldStatus
    # Stripe: the PaymentIntent id. Adyen: the pspReference once authorised; for a Drop-in
    # session it is None until the AUTHORISATION notification names it.
    provider_ref: str | None
    amount_minor: int
    currency: str
    # What the shopper's browser or app needs to finish the payment in the PSP's element.
    client_secret: str | None = None  # Stripe Payment Element
    session_id: str | None = None  # Adyen Drop-in session
    session_data: str | None = None  # Adyen Drop-in session
    method: PaymentMethod | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """The PSP's answer to a capture, cancel or refund.

    ``done``: it happened (Stripe answers synchronously). ``received``: the PSP accepted the
    request and will confirm it by notification (Adyen). A refusal raises ``ProviderError``.
    """

    status: Literal["done", "received"]
    provider_ref: str  # the PaymentIntent / pspReference the action applied to
    action_ref: str | None = None  # the refund or modification's own id, when there is one
    amount_minor: int = 0


class ProviderEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One verified PSP notification, normalised."""

    provider: ProviderName
    event_id: str  # unique per notification at the PSP: the dedupe key
    kind: EventKind
    raw_type: str  # Stripe event type / Adyen eventCode (+ success)
    payment_id: uuid.UUID | None  # ours, from metadata / merchantReference
    provider_ref: str | None  # PaymentIntent id / the authorisation's pspReference
    # A refund's (or other modification's) own id: Stripe re_..., Adyen the modification's
    # pspReference; matches ``Outcome.action_ref`` of the call that asked for it.
    action_ref: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    occurred_at: datetime | None = None
    method: PaymentMethod | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class SettlementLine(msgspec.Struct, frozen=True, kw_only=True):
    """One movement the PSP says it made: what reconciliation compares our ledger to.

    ``amount_minor`` is positive for money captured, negative for money refunded.
    """

    provider_ref: str  # the payment's PaymentIntent / pspReference
    payment_id: uuid.UUID | None
    kind: Literal["capture", "refund"]
    amount_minor: int
    currency: str
    fee_minor: int = 0
    occurred_at: datetime | None = None
    line_ref: str | None = None  # balance transaction id / the report's modification reference


class SavedMethodSetup(msgspec.Struct, frozen=True, kw_only=True):
    """What an app needs to let a user save a card for later sessions, in the PSP's element."""

    customer_ref: str  # Stripe Customer id / Adyen shopperReference
    client_secret: str | None = None  # Stripe SetupIntent
    session_id: str | None = None  # Adyen Drop-in session (zero-value, storePaymentMethod)
    session_data: str | None = None


class SavedMethod(msgspec.Struct, frozen=True, kw_only=True):
    ref: str  # Stripe PaymentMethod id / Adyen storedPaymentMethodId
    brand: str | None = None
    last4: str | None = None
    expiry: str | None = None  # "MM/YYYY"


class ProviderError(Exception):
    """The PSP refused or failed a call.

    ``code`` is the PSP's own decline / error code (``card_declined``, ``Refused``...);
    ``retryable`` is True for timeouts and 5xx, where the same call with the same
    idempotency key may simply be sent again.
    """

    def __init__(self, code: str, message: str, *, retryable: bool = False, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.http_status = http_status


class WebhookRejected(Exception):
    """A notification whose signature is missing, forged or stale, or whose body is not
    the PSP's format. Answered 400; nothing is stored."""


class PaymentProvider(Protocol):
    name: ProviderName

    async def create_hold(self, req: HoldRequest, *, idempotency_key: str) -> Hold:
        """Reserve ``req.amount_minor`` for later capture (manual capture, never automatic)."""
        ...

    async def capture(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        """Take ``amount_minor`` (at most the hold) and release the rest of the hold."""
        ...

    async def cancel(self, provider_ref: str, *, idempotency_key: str) -> Outcome:
        """Release the whole hold; nothing is charged."""
        ...

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        """Give back ``amount_minor`` (part or all) of a captured payment."""
        ...

    async def payment_method(self, provider_ref: str) -> PaymentMethod | None:
        """Brand and last four of the card behind a payment, as the PSP reports them."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[ProviderEvent]:
        """Verify and normalise a notification request; raise ``WebhookRejected`` if not genuine.

        ``headers`` keys are lower case. Adyen batches several items in one request.
        """
        ...

    async def setup_saved_method(
        self, customer_key: str, email: str | None, customer_ref: str | None, *, idempotency_key: str
    ) -> SavedMethodSetup:
        """Start saving a card for an app user (``customer_key``: our stable user id).
        ``customer_ref``: the PSP customer made earlier for this user, if any."""
        ...

    async def saved_methods(self, customer_ref: str) -> list[SavedMethod]:
        """The cards the user saved, as the PSP lists them."""
        ...

    async def remove_saved_method(self, customer_ref: str, method_ref: str) -> None:
        """Forget a saved card at the PSP (detach / delete its token); a card already gone is
        not an error, so a retry is safe."""
        ...

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        """What the PSP actually moved in [since, until): Stripe balance transactions, Adyen's
        settlement details report."""
        ...


def idempotency_key(payment_id: uuid.UUID, action: str, seq: int = 0) -> str:
    """The key for one action on one payment: the same on every retry of that action.

    ``seq`` tells apart actions that may legitimately happen more than once (a second
    partial refund).
    """
    return f"laddnat-{payment_id}-{action}-{seq}"
