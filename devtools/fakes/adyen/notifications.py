"""Standard notifications: items HMAC-signed the way Adyen signs them, batched into a body and
posted to the webhook URL (at once, or after the answer as Adyen does for modifications)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import aiohttp

from devtools.fakes.adyen.records import FakePayment, Refusal
from devtools.fakes.adyen.state import AdyenState

# A notification not accepted (no answer, or a 5xx) is posted again after each of these.
RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)

_SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)


def sign_item(item: dict[str, Any], hmac_key: str) -> str:
    """Adyen's HMAC of a NotificationRequestItem: HMAC-SHA256 (key from hex) over the eight
    fields joined by ``:``, base64. Written from Adyen's description, not the SDK's code, so
    the provider's verification is checked against an independent signer."""
    amount = item.get("amount") or {}
    values = {**item, "value": amount.get("value", ""), "currency": amount.get("currency", "")}
    message = ":".join(str(values.get(name) if values.get(name) is not None else "") for name in _SIGNED_FIELDS)
    digest = hmac.new(bytes.fromhex(hmac_key), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class NotificationsMixin(AdyenState):
    """Part of AdyenFake: building, signing and posting notifications."""

    def notification_item(
        self,
        event_code: str,
        psp_reference: str,
        merchant_reference: str,
        amount: int,
        currency: str,
        success: bool = True,
        original_reference: str | None = None,
        *,
        reason: str = "",
        payment_method: str | None = None,
        additional_data: dict[str, str] | None = None,
        event_date: datetime | None = None,
        merchant_account: str | None = None,
        hmac_key: str | None = None,
        sign: bool = True,
    ) -> dict[str, Any]:
        """One NotificationRequestItem, signed with ``hmac_key`` (default: the fake's)."""
        item: dict[str, Any] = {
            "additionalData": dict(additional_data or {}),
            "amount": {"currency": currency, "value": amount},
            "eventCode": event_code,
            "eventDate": (event_date or self.clock()).astimezone(UTC).isoformat(timespec="seconds"),
            "merchantAccountCode": merchant_account or self.merchant_account,
            "merchantReference": merchant_reference,
            "pspReference": psp_reference,
            "reason": reason,
            "success": "true" if success else "false",
        }
        if original_reference is not None:
            item["originalReference"] = original_reference
        if payment_method is not None:
            item["paymentMethod"] = payment_method
        if sign:
            item["additionalData"]["hmacSignature"] = sign_item(item, hmac_key or self.hmac_key)
        return item

    def notification(
        self,
        event_code: str,
        psp_reference: str,
        merchant_reference: str,
        amount: int,
        currency: str,
        success: bool = True,
        original_reference: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """A notification request body with one signed item (options: see ``notification_item``)."""
        item = self.notification_item(
            event_code, psp_reference, merchant_reference, amount, currency, success, original_reference, **options
        )
        return self.notification_body([item])

    @staticmethod
    def notification_body(items: list[dict[str, Any]], live: bool = False) -> dict[str, Any]:
        """The request body Adyen posts: several items batched."""
        return {
            "live": "true" if live else "false",
            "notificationItems": [{"NotificationRequestItem": item} for item in items],
        }

    async def post_notification(self, body: dict[str, Any], url: str | None = None) -> int | None:
        """POST a notification body to ``url`` (default ``webhook_url``); the HTTP status, or
        None when nothing answered."""
        target = url or self.webhook_url
        if target is None:
            raise RuntimeError("no webhook URL to post the notification to")
        assert self._client is not None, "start() the fake first"
        status: int | None
        try:
            async with self._client.post(target, json=body) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            status = None
        self.notifications_sent.append((target, body, status))
        return status

    async def flush(self) -> None:
        """Wait until every notification posted in the background has been answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _notify_later(self, body: dict[str, Any]) -> None:
        # Adyen answers a modification first and notifies afterwards: post after the response.
        if not self.webhook_url:
            return

        async def post() -> None:
            await asyncio.sleep(0)
            # Adyen retries a notification nobody accepted; so does this fake, sooner.
            for backoff_s in RETRY_BACKOFF_S:
                status = await self.post_notification(body)
                if status is not None and status < 500:
                    return
                await asyncio.sleep(backoff_s)
            await self.post_notification(body)

        task = asyncio.get_running_loop().create_task(post())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _authorisation_notification(self, payment: FakePayment, refusal: Refusal | None) -> dict[str, Any]:
        additional = {}
        if refusal is None:
            additional = {"cardSummary": payment.last4 or "", "expiryDate": "03/2030", "authCode": "045911"}
        else:
            additional = {"refusalReasonCode": refusal.code}
        return self.notification(
            "AUTHORISATION",
            payment.psp_reference,
            payment.merchant_reference,
            payment.amount_minor,
            payment.currency,
            refusal is None,
            reason=refusal.reason if refusal else "045911:1111:03/2030",
            payment_method=payment.brand,
            additional_data=additional,
        )
