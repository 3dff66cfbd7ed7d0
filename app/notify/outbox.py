"""The outbox: enqueue once, deliver with retries, never lose a message to a crash."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import claim, insert_ignoring_duplicates, new_id, utcnow
from app.core.workers import PollingWorker
from app.notify.mail import Mailer, MailError
from app.notify.models import OutgoingMail

log = logging.getLogger("laddnat.mail")

MAX_ATTEMPTS = 8  # backoff 1, 2, 4 ... 64 minutes: about two hours in all


class Outbox:
    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def enqueue(self, *, kind: str, key: str, to: str, subject: str, text: str, html: str | None = None) -> bool:
        """Store a message to send (in the caller's transaction; the caller commits).
        False: a message with this key was already queued."""
        return await claim(
            self.db,
            insert_ignoring_duplicates(self.db, OutgoingMail).values(
                id=new_id(),
                kind=kind,
                dedupe_key=key[:120],
                to_address=to,
                subject=subject[:200],
                text_body=text,
                html_body=html,
                created_at=self.clock(),
                next_attempt_at=self.clock(),
                attempts=0,
            ),
        )

    async def due(self, limit: int = 50) -> list[uuid.UUID]:
        rows = await self.db.scalars(
            select(OutgoingMail.id)
            .where(
                OutgoingMail.sent_at.is_(None),
                OutgoingMail.attempts < MAX_ATTEMPTS,
                OutgoingMail.next_attempt_at <= self.clock(),
            )
            .order_by(OutgoingMail.next_attempt_at)
            .limit(limit)
        )
        return list(rows)


class MailWorker(PollingWorker):
    """Delivers what the outbox holds, beside the API; one message at a time is claimed by
    moving its next attempt forward, so two API processes never send it twice at once."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        mailer: Mailer,
        from_address: str,
        *,
        interval_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__("mail-worker", interval_s=interval_s, log=log)
        self.maker = maker
        self.mailer = mailer
        self.from_address = from_address
        self.clock = clock

    async def pass_once(self) -> None:
        await self.send_due()

    async def send_due(self) -> int:
        """One pass; returns how many were delivered."""
        sent = 0
        async with self.maker() as db:
            ids = await Outbox(db, clock=self.clock).due()
        for mail_id in ids:
            sent += await self._deliver(mail_id)
        return sent

    async def _deliver(self, mail_id: uuid.UUID) -> int:
        async with self.maker() as db:
            mail = await db.get(OutgoingMail, mail_id)
            if mail is None or mail.sent_at is not None:
                return 0
            attempts, now = mail.attempts, self.clock()
            # The claim: the next attempt moves out before sending. "Still due" is part of it:
            # a copy that read the row after another's claim sees the new attempt count, and
            # only the moved-out time tells it the message is being sent right now.
            claimed = await claim(
                db,
                update(OutgoingMail)
                .where(
                    OutgoingMail.id == mail_id,
                    OutgoingMail.attempts == attempts,
                    OutgoingMail.sent_at.is_(None),
                    OutgoingMail.next_attempt_at <= now,
                )
                .values(attempts=attempts + 1, next_attempt_at=now + timedelta(minutes=2**attempts)),
            )
            if not claimed:
                await db.rollback()
                return 0
            await db.commit()
            message = EmailMessage()
            message["From"] = self.from_address
            message["To"] = mail.to_address
            message["Subject"] = mail.subject
            message.set_content(mail.text_body)
            if mail.html_body:
                message.add_alternative(mail.html_body, subtype="html")
            try:
                await self.mailer.send(message)
            except MailError as err:
                log.warning("mail %s to %s not sent (attempt %d): %s", mail_id, mail.to_address, attempts + 1, err)
                values: dict[str, object] = {"last_error": str(err)[:255]}
                if err.permanent:
                    values["attempts"] = MAX_ATTEMPTS
                await db.execute(update(OutgoingMail).where(OutgoingMail.id == mail_id).values(**values))
                await db.commit()
                return 0
            await db.execute(
                update(OutgoingMail).where(OutgoingMail.id == mail_id).values(sent_at=self.clock(), last_error=None)
            )
            await db.commit()
            return 1
