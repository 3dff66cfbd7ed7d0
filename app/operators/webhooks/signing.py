"""How a webhook is signed, and how a receiver checks it (this module is the reference).

Each request carries::

    Laddnat-Webhook-Id: <event id, a UUID: the same on every retry; dedupe on it>
    Laddnat-Webhook-Timestamp: <unix seconds when this attempt was signed>
    Laddnat-Webhook-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

``secret`` is the whole ``whsec_...`` string shown once at creation (its UTF-8 bytes are
the key); ``body`` is the raw request body, byte for byte, before any JSON parsing. The
timestamp is inside the MAC so an old request cannot be replayed later: receivers refuse
one older than a few minutes. The header may carry several space-separated ``v1=``
values; a request is genuine when any one matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

ID_HEADER = "Laddnat-Webhook-Id"
TIMESTAMP_HEADER = "Laddnat-Webhook-Timestamp"
SIGNATURE_HEADER = "Laddnat-Webhook-Signature"
SCHEME = "v1"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    """32 random bytes, URL-safe base64, with a prefix that makes a leaked one easy to spot."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"{SCHEME}={signature(secret, timestamp, body)}"


def verify(
    secret: str,
    timestamp: str | int,
    body: bytes,
    header: str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` under ``secret`` and the
    timestamp is within ``tolerance_s`` of ``now`` (default: the clock)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = signature(secret, ts, body)
    for part in header.split():
        scheme, _, value = part.partition("=")
        if scheme == SCHEME and hmac.compare_digest(value, expected):
            return True
    return False
