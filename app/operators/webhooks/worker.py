"""Delivering webhooks: a worker beside the API POSTs the stored deliveries, signed, and
retries with backoff. What fills the outbox is app/notify/operator_webhooks.py."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import claim, utcnow
from app.core.workers import PollingWorker
from app.operators.webhooks.crypto import SealError, unseal
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.operators.webhooks.outbox import MAX_ATTEMPTS, WebhookOutbox, backoff
from app.operators.webhooks.signing import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header
from app.operators.webhooks.targets import Resolver, TargetRefused, checked_address, resolve

log = logging.getLogger("laddnat.webhooks")

USER_AGENT = "Laddnat-Webhooks/1"
REFUSED = "refused: the URL does not lead to a public address"


@dataclass(frozen=True, slots=True)
class _Attempt:
    delivery_id: uuid.UUID
    number: int
    url: str
    secret: str | None  # None: it cannot be unsealed (LADDNAT_SECRET_KEY changed)
    body: bytes
    at: datetime


class WebhookWorker(PollingWorker):
    """Sends what the outbox holds. A delivery is claimed by counting the attempt and moving
    its next attempt out before sending, so two API processes never send it at once and a
    crash mid-send is retried after the backoff. The body never changes between attempts;
    receivers dedupe on its event id."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        secret_key: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval_s: float = 5.0,
        timeout_s: float = 10.0,
        concurrency: int = 8,
        allow_private_targets: bool = False,
        resolver: Resolver = resolve,
    ) -> None:
        """``allow_private_targets``: deliver to non-public addresses too
        (LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS); ``resolver``: host name -> addresses."""
        super().__init__("webhook-worker", interval_s=interval_s, log=log)
        self.allow_private_targets = allow_private_targets
        self.resolver = resolver
        self.maker = maker
        self.secret_key = secret_key
        self.clock = clock
        self.timeout_s = timeout_s
        self.concurrency = concurrency

    async def pass_once(self) -> None:
        await self.send_due()

    async def send_due(self) -> int:
        """One pass over what is due now; returns how many were delivered."""
        async with self.maker() as db:
            ids = await WebhookOutbox(db, clock=self.clock).due()
        if not ids:
            return 0
        limit = asyncio.Semaphore(self.concurrency)
        # No redirects: a receiver that moved must update its URL here, and a redirect
        # must not carry our signed body somewhere the operator never configured.
        # No pooled connections: each delivery connects to the address it has just checked.
        async with httpx.AsyncClient(
            timeout=self.timeout_s, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
        ) as client:

            async def one(delivery_id: uuid.UUID) -> bool:
                async with limit:
                    return await self._deliver(client, delivery_id)

            results = await asyncio.gather(*(one(i) for i in ids))
        return sum(results)

    async def _deliver(self, client: httpx.AsyncClient, delivery_id: uuid.UUID) -> bool:
        attempt = await self._claim(delivery_id)
        if attempt is None:
            return False
        status, error = await self._post(client, attempt)
        await self._record(attempt, status, error)
        return error is None

    async def _claim(self, delivery_id: uuid.UUID) -> _Attempt | None:
        async with self.maker() as db:
            delivery = await db.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.state != "pending":
                return None
            endpoint = await db.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None or not endpoint.active:
                return None
            now = self.clock()
            number = delivery.attempts + 1
            claimed = await claim(
                db,
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.attempts == delivery.attempts,
                    WebhookDelivery.state == "pending",
                    # Still due: a copy that read the row after another's claim sees the new
                    # attempt count; only the moved-out time says it is being sent right now.
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(attempts=number, last_attempt_at=now, next_attempt_at=now + backoff(number)),
            )
            if not claimed:
                await db.rollback()
                return None
            await db.commit()
            try:
                secret: str | None = unseal(self.secret_key, endpoint.secret_sealed)
            except SealError:
                secret = None
            return _Attempt(delivery_id, number, endpoint.url, secret, delivery.payload.encode(), now)

    async def _post(self, client: httpx.AsyncClient, attempt: _Attempt) -> tuple[int | None, str | None]:
        """The receiver's status and, unless it was a 2xx, what went wrong."""
        if attempt.secret is None:
            return None, "the signing secret cannot be read (LADDNAT_SECRET_KEY changed?): rotate it"
        timestamp = int(attempt.at.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ID_HEADER: str(attempt.delivery_id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(attempt.secret, timestamp, attempt.body),
        }
        try:
            url, host_header, sni = await self._pinned(attempt.url)
        except TargetRefused:
            # The same words whatever the reason (private address, no such name): the log
            # must not become a way to map our network.
            return None, REFUSED
        headers["Host"] = host_header
        try:
            # Streamed and never read: the receiver's body does not matter, whatever its size.
            async with client.stream(
                "POST", url, content=attempt.body, headers=headers, extensions={"sni_hostname": sni}
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return None, f"timeout after {self.timeout_s:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:255]
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}"

    async def _pinned(self, url: str) -> tuple[str, str, str]:
        """The URL with its host replaced by the address just checked, the Host header and
        the TLS server name (the certificate is still verified for the name). TargetRefused
        unless that address is allowed: checked on every attempt, since DNS answers change."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await checked_address(host, port, allow_private=self.allow_private_targets, resolver=self.resolver)
        netloc = f"[{address}]" if ":" in address else address
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc)), parts.netloc, host

    async def _record(self, attempt: _Attempt, status: int | None, error: str | None) -> None:
        values: dict[str, object] = {"last_status": status, "last_error": error}
        if error is None:
            values |= {"state": "delivered", "delivered_at": self.clock(), "next_attempt_at": None}
        elif attempt.number >= MAX_ATTEMPTS:
            values |= {"state": "failed", "next_attempt_at": None}
            log.warning("webhook %s failed for good after %d attempts: %s", attempt.delivery_id, attempt.number, error)
        else:
            log.info("webhook %s attempt %d failed: %s", attempt.delivery_id, attempt.number, error)
        async with self.maker() as db:
            await db.execute(update(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id).values(**values))
            await db.commit()
