"""Two copies of a worker over the same rows (two `laddnat worker` processes on one database):
their passes run at once, and every mail is sent once and every webhook POSTed once.

Each copy has its own engine, so its own connections, as a second process would. On
PostgreSQL (LADDNAT_TEST_DATABASE_URL) the passes really interleave; on SQLite they take
turns at the single writer, and the claims hold all the same.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import create_engine, create_sessionmaker
from app.core.settings import MailSettings, Settings
from app.notify.mail import create_mailer
from app.notify.models import OutgoingMail
from app.notify.outbox import MailWorker, Outbox
from app.operators.models import Operator
from app.operators.webhooks.models import WebhookDelivery
from app.operators.webhooks.outbox import WebhookOutbox
from app.operators.webhooks.service import WebhookService
from app.operators.webhooks.signing import ID_HEADER
from app.operators.webhooks.worker import WebhookWorker
from tests.conftest import TEST_SECRET
from tests.e2e.test_operator_webhooks import Receiver
from tests.fakes.smtp import Inbox, running_smtp

COPIES = 2
ROUNDS = 3  # passes per copy, all at once: later ones find the work claimed or done
MESSAGES = 20


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[str, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", recv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recv.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield recv
    await runner.cleanup()


@pytest.fixture
async def makers(settings: Settings) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """One engine per copy, as if each ran in a process of its own."""
    engines = [create_engine(settings.db) for _ in range(COPIES)]
    yield [create_sessionmaker(engine) for engine in engines]
    for engine in engines:
        await engine.dispose()


async def test_two_mail_workers_send_each_message_once(
    settings: Settings, makers: list[async_sessionmaker[AsyncSession]], smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    run = uuid.uuid4().hex[:8]
    addresses = [f"driver-{run}-{n}@copies.test" for n in range(MESSAGES)]
    async with makers[0]() as db:
        outbox = Outbox(db)
        for n, address in enumerate(addresses):
            assert await outbox.enqueue(kind="test", key=f"copies-{run}-{n}", to=address, subject=f"#{n}", text="hi")
        await db.commit()

    mail = MailSettings(smtp_url=url)
    workers = [MailWorker(maker, create_mailer(mail), mail.from_address) for maker in makers]
    sent = await asyncio.gather(*(worker.send_due() for worker in workers for _ in range(ROUNDS)))

    assert sum(sent) == MESSAGES
    assert [len(inbox.to(address)) for address in addresses] == [1] * MESSAGES
    async with makers[0]() as db:
        rows = list(await db.scalars(select(OutgoingMail).where(OutgoingMail.to_address.in_(addresses))))
    # Each row claimed once: one attempt, sent, no error.
    assert sorted((r.attempts, r.sent_at is not None, r.last_error) for r in rows) == [(1, True, None)] * MESSAGES


async def test_two_webhook_workers_post_each_delivery_once(
    settings: Settings, makers: list[async_sessionmaker[AsyncSession]], receiver: Receiver
) -> None:
    path = receiver.new_path()
    party = uuid.uuid4().hex[:3].upper()
    async with makers[0]() as db:
        operator = Operator(name=f"Copies {party}", country_code="SE", party_id=party)
        db.add(operator)
        await db.commit()
        endpoints = WebhookService(db, TEST_SECRET, scope=operator.id, allow_private_targets=True)
        await endpoints.create(url=f"{receiver.base_url}{path}", description="copies", events=[], active=True)
        outbox = WebhookOutbox(db)
        for n in range(MESSAGES):
            assert await outbox.enqueue("incident.opened", operator.id, {"n": n, "run": party}) == 1
        await db.commit()

    workers = [WebhookWorker(maker, TEST_SECRET, allow_private_targets=True) for maker in makers]
    delivered = await asyncio.gather(*(worker.send_due() for worker in workers for _ in range(ROUNDS)))

    assert sum(delivered) == MESSAGES
    posted = Counter(r.headers[ID_HEADER] for r in receiver.at(path))
    assert len(posted) == MESSAGES and set(posted.values()) == {1}, posted
    async with makers[0]() as db:
        states = Counter(
            (state, attempts)
            for state, attempts in await db.execute(
                select(WebhookDelivery.state, WebhookDelivery.attempts).where(
                    WebhookDelivery.id.in_([uuid.UUID(i) for i in posted])
                )
            )
        )
    # Each delivery claimed once: one attempt, delivered.
    assert states == {("delivered", 1): MESSAGES}
