"""Stripe webhooks for the tests and the fake: the signature header, the event body, and
localstripe's own webhook registration."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode


def sign_webhook(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, computed the way Stripe does:
    ``t=<ts>,v1=<hex hmac-sha256(secret, "<ts>.<payload>")>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    body = payload.decode() if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def stripe_event(
    type_: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> bytes:
    """A Stripe event body (``object: "event"``) around ``obj``."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    event = {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": data,
    }
    return json.dumps(event, indent=2).encode()


def register_localstripe_webhook(
    localstripe_url: str, url: str, secret: str, *, events: list[str] | None = None, hook_id: str = "laddnat"
) -> None:
    """Have localstripe itself POST signed events to ``url`` (its ``/_config/webhooks/{id}``).

    It signs correctly (``t=created``) but sends only a few types, in its 2017 shape, a second
    after the fact; ``StripeQuirksProxy.register_webhook`` is the Stripe-shaped alternative."""
    form: list[tuple[str, str]] = [("url", url), ("secret", secret)]
    form += [(f"events[{i}]", e) for i, e in enumerate(events or [])]
    request = urllib.request.Request(
        f"{localstripe_url}/_config/webhooks/{hook_id}", data=urlencode(form).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()
