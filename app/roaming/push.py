"""What we owe partners, delivered in the background: the OCPI push outbox and its worker.

A module that has news for partners (an EVSE's status, a session, a CDR, a command's
result) calls :func:`enqueue` in the same database transaction as the change itself, so
the push is never lost and never sent for a change that rolled back. The worker calls the
partner with back-off; a partner that is down costs a row per change, not a charger's or a
driver's time.

Per partner and object, pushes go out in the order they were made; a newer push of the
same object and method supersedes one not yet sent (the newest status is all a partner
needs). Pushes are idempotent for the partner: PUT and PATCH carry the whole state they
set and its ``last_updated``; a CDR is POSTed under its own id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from app.core.database import claim, utcnow
from app.core.settings import OcpiSettings
from app.core.workers import PollingWorker
from app.operators.models import Operator
from app.roaming.client import PartnerCallFailed, PartnerClient, Party
from app.roaming.hubclientinfo.service import unreachable
from app.roaming.models import OcpiPartner, OcpiPush

log = logging.getLogger("laddnat.roaming")

# A push the partner answered "no such object" can be replaced by the module that made it
# (2.2.1 transport, PATCH: "If the object doesn't exist, the client should do a PUT"):
# the handler enqueues the replacement and says True; the push is then done, "replaced".
UnknownObjectHandler = Callable[[OcpiPush], Awaitable[bool]]
UNKNOWN_LOCATION = 2003

MAX_ATTEMPTS = 12  # about 3 h of back-off: then it is an operator's matter (the push log)
BATCH = 200
# How long a CDR for a party a hub reports unreachable waits before it is looked at again.
UNREACHABLE_HOLD = timedelta(minutes=5)


def backoff(attempt: int) -> timedelta:
    """5 s, 10 s, 20 s ... capped at 30 min."""
    return timedelta(seconds=min(5 * 2 ** max(0, attempt - 1), 1800))


async def enqueue(
    db: AsyncSession,
    partner: OcpiPartner,
    *,
    module: str,
    method: str,
    url: str,
    body: dict[str, Any],
    object_key: str,
    now: datetime | None = None,
) -> OcpiPush:
    """Add a push to the session (the caller commits it with its change)."""
    at = now or utcnow()
    await db.execute(
        update(OcpiPush)
        .where(
            OcpiPush.partner_id == partner.id,
            OcpiPush.object_key == object_key,
            OcpiPush.method == method,
            OcpiPush.done_at.is_(None),
            OcpiPush.attempts == 0,  # one under way is left to finish
        )
        .values(done_at=at, outcome="superseded")
    )
    push = OcpiPush(
        operator_id=partner.operator_id,
        partner_id=partner.id,
        module=module,
        method=method,
        url=url,
        body=body,
        object_key=object_key,
        next_at=at,
        created_at=at,
    )
    db.add(push)
    return push


class PushWorker(PollingWorker):
    """Sends the due pushes. Claimed by counting the attempt and moving its next try out
    before calling, so two processes never send one push at once and a crash mid-call is
    retried after the back-off."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: OcpiSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval_s: float = 2.0,
        concurrency: int = 8,
    ) -> None:
        super().__init__("ocpi-push-worker", interval_s=interval_s, log=log)
        self.maker = maker
        self.settings = settings
        self.clock = clock
        self.concurrency = concurrency
        self.unknown_object_handlers: dict[str, UnknownObjectHandler] = {}

    def on_unknown_object(self, module: str, handler: UnknownObjectHandler) -> None:
        """Let ``handler`` replace a PATCH of ``module`` the partner does not know the object of."""
        self.unknown_object_handlers[module] = handler

    async def pass_once(self) -> None:
        await self.send_due()

    async def send_due(self) -> int:
        """One pass; returns how many pushes were delivered."""
        now = self.clock()
        earlier = aliased(OcpiPush)
        async with self.maker() as db:
            ids = list(
                await db.scalars(
                    select(OcpiPush.id)
                    .where(
                        OcpiPush.done_at.is_(None),
                        OcpiPush.next_at <= now,
                        # A suspended partner's pushes wait until it is resumed.
                        OcpiPush.partner_id.in_(select(OcpiPartner.id).where(OcpiPartner.suspended_at.is_(None))),
                        # Only the oldest undelivered push of an object goes: order per object holds.
                        ~exists().where(
                            earlier.partner_id == OcpiPush.partner_id,
                            earlier.object_key == OcpiPush.object_key,
                            earlier.done_at.is_(None),
                            earlier.id < OcpiPush.id,
                        ),
                    )
                    .order_by(OcpiPush.id)
                    .limit(BATCH)
                )
            )
        if not ids:
            return 0
        limit = asyncio.Semaphore(self.concurrency)

        async def one(push_id: int) -> bool:
            async with limit:
                return await self.deliver(push_id)

        return sum(await asyncio.gather(*(one(i) for i in ids)))

    async def deliver(self, push_id: int) -> bool:
        async with self.maker() as db:
            push = await db.get(OcpiPush, push_id)
            if push is None or push.done_at is not None:
                return False
            partner = await db.get(OcpiPartner, push.partner_id)
            operator = await db.get(Operator, push.operator_id)
            now = self.clock()
            if partner is None or operator is None or partner.state != "registered" or not partner.their_token:
                push.done_at, push.outcome = now, "gave_up"
                push.last_error = "the partner is no longer registered"
                await db.commit()
                return False
            barred = await unreachable(db, partner)
            if barred is not None:
                # A hub says the party is not connected (HubClientInfo): nothing is sent.
                # A CDR is money and waits for the party; any other push is dropped, the
                # party GETs the current state when it is back (2.2.1 mod_hub_client_info).
                if push.module == "cdrs":
                    push.next_at = now + UNREACHABLE_HOLD
                else:
                    push.done_at, push.outcome = now, "skipped"
                push.last_error = f"the party is {barred} (hub client info)"
                await db.commit()
                return False
            number = push.attempts + 1
            # Still due: a pass that listed it before another pass claimed it (poke and the
            # timer, two processes) finds its next try moved out and leaves it alone.
            claimed = await claim(
                db,
                update(OcpiPush)
                .where(
                    OcpiPush.id == push_id,
                    OcpiPush.attempts == push.attempts,
                    OcpiPush.done_at.is_(None),
                    OcpiPush.next_at <= now,
                )
                .values(attempts=number, next_at=now + backoff(number)),
            )
            if not claimed:
                await db.rollback()
                return False
            await db.commit()
            client = PartnerClient(
                self.settings,
                partner.their_token,
                ours=Party.of_operator(operator),
                theirs=Party.of_partner(partner),
            )
            method, url, body = push.method, push.url, push.body
        error: str | None = None
        replaced = False
        try:
            await client.call(method, url, body)
        except PartnerCallFailed as exc:
            error = str(exc)
            handler = self.unknown_object_handlers.get(push.module)
            unknown = exc.http_status == 404 or exc.ocpi_status == UNKNOWN_LOCATION
            if method == "PATCH" and handler is not None and unknown:
                replaced = await handler(push)
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values |= {"done_at": self.clock(), "outcome": "delivered"}
        elif replaced:
            values |= {"done_at": self.clock(), "outcome": "replaced"}
        elif number >= MAX_ATTEMPTS:
            values |= {"done_at": self.clock(), "outcome": "gave_up"}
            log.warning("OCPI push %s gave up after %d attempts: %s", push_id, number, error)
        else:
            log.info("OCPI push %s attempt %d failed: %s", push_id, number, error)
        async with self.maker() as db:
            await db.execute(update(OcpiPush).where(OcpiPush.id == push_id).values(**values))
            await db.commit()
        return error is None
