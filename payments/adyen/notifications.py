"""Adyen's standard notifications: parsed, every item's HMAC verified, turned into ProviderEvents.

Adyen sends a batch of NotificationRequestItems and resends it until it is accepted; each
item's ``eventCode:pspReference:success`` is the event id, so a resent item is recognised.
"""

from __future__ import annotations

import binascii
import json
from datetime import UTC, datetime

from Adyen.util import is_valid_hmac_notification

from payments.adyen.values import dict_or_empty, method_of, payment_id_of, str_or_none
from payments.provider import EventKind, PaymentMethod, ProviderEvent, WebhookRejected


def parse_notifications(body: bytes, *, merchant_account: str, hmac_key: str) -> list[ProviderEvent]:
    """The events of a standard notification request, every item's HMAC signature verified
    with ``hmac_key``. WebhookRejected if the body is malformed or any item is unsigned or
    forged; items of another merchant account (a company-level webhook) come back ``ignored``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected("the notification is not JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("notificationItems"), list):
        raise WebhookRejected("not an Adyen notification: notificationItems missing")
    items = []
    for entry in payload["notificationItems"]:
        item = entry.get("NotificationRequestItem") if isinstance(entry, dict) else None
        if not isinstance(item, dict):
            raise WebhookRejected("a notification item is not a NotificationRequestItem")
        _check_fields(item)
        if not _signed(item, hmac_key):
            # One forged item taints the request: Adyen signs every item it sends.
            raise WebhookRejected(f"bad HMAC signature on {item.get('eventCode')} {item.get('pspReference')}")
        items.append(item)
    if not items:
        raise WebhookRejected("the notification has no items")
    return [_event(item, merchant_account) for item in items]


def _signed(item: dict, hmac_key: str) -> bool:
    try:
        # The SDK answers None (not False) when additionalData is absent, raises when the
        # signature is empty or missing: only a plain True is a valid signature.
        return is_valid_hmac_notification(item, hmac_key) is True
    except (KeyError, TypeError, ValueError, binascii.Error):
        return False


def _event(item: dict, merchant_account: str) -> ProviderEvent:
    code = str(item["eventCode"])
    psp = str(item["pspReference"])
    success_text = str(item["success"]).lower()
    success = success_text == "true"
    original = str_or_none(item.get("originalReference"))
    additional = dict_or_empty(item.get("additionalData"))
    amount = dict_or_empty(item.get("amount"))
    kind = _kind(code, success)
    if item.get("merchantAccountCode") != merchant_account:
        kind = "ignored"  # a company-level webhook also reports our other merchant accounts
    method = None
    failure_code = failure_message = None
    if kind == "authorised":
        method = _method_of_notification(item, additional)
    if kind in ("authorisation_failed", "capture_failed", "refund_failed"):
        failure_code = str_or_none(additional.get("refusalReasonCode")) or code
        failure_message = str_or_none(item.get("reason")) or None
    value = amount.get("value")
    return ProviderEvent(
        provider="adyen",
        # Adyen resends a notification until it is accepted: the same three fields each time.
        event_id=f"{code}:{psp}:{success_text}",
        kind=kind,
        raw_type=f"{code}:{success_text}",
        payment_id=payment_id_of(str_or_none(item.get("merchantReference"))),
        provider_ref=original or psp,
        action_ref=psp if original else None,
        amount_minor=value if isinstance(value, int) and not isinstance(value, bool) else None,
        currency=str_or_none(amount.get("currency")),
        occurred_at=_parse_event_date(str_or_none(item.get("eventDate"))),
        method=method,
        failure_code=failure_code,
        failure_message=failure_message,
    )


def _kind(code: str, success: bool) -> EventKind:
    if code == "AUTHORISATION":
        return "authorised" if success else "authorisation_failed"
    if code == "CAPTURE":
        return "captured" if success else "capture_failed"
    if code == "CAPTURE_FAILED":
        return "capture_failed"
    if code in ("CANCELLATION", "CANCEL_OR_REFUND"):
        return "cancelled" if success else "ignored"
    if code == "REFUND":
        return "refunded" if success else "refund_failed"
    if code == "REFUND_FAILED":
        return "refund_failed"
    return "ignored"


def _check_fields(item: dict) -> None:
    for name in ("eventCode", "pspReference", "success", "merchantAccountCode"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise WebhookRejected(f"notification item without {name}")
    amount = item.get("amount")
    if not isinstance(amount, dict) or not isinstance(amount.get("value"), int) or "currency" not in amount:
        raise WebhookRejected("notification item without amount")


def _method_of_notification(item: dict, additional: dict) -> PaymentMethod | None:
    return method_of(str_or_none(item.get("paymentMethod")), str_or_none(additional.get("cardSummary")))


def _parse_event_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
