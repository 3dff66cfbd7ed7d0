"""msgspec structs of the PSP webhook endpoints."""

from __future__ import annotations

import msgspec


class WebhookAckOut(msgspec.Struct, kw_only=True, rename="camel"):
    received: int
    new: int
