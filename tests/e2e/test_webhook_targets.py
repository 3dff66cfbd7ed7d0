"""Webhook targets are public addresses only: refused when saved (422
``webhook.target_forbidden``) and, since a DNS answer can change, on every delivery after
resolving the name; the delivery connects to the address it checked. The real app over
ASGI, a real database, a real receiver on loopback; the worker's resolver is injected like
its clock."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import create_engine, create_sessionmaker, new_id
from app.core.settings import Settings
from app.main import create_app
from app.operators.models import Operator
from app.operators.webhooks.crypto import seal
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.operators.webhooks.outbox import TEST_EVENT, WebhookOutbox
from app.operators.webhooks.service import WebhookService
from app.operators.webhooks.signing import new_secret
from app.operators.webhooks.targets import is_public
from app.operators.webhooks.worker import REFUSED, WebhookWorker
from tests.conftest import TEST_SECRET
from tests.e2e.test_api import problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
ADMIN = ("admin@targets.test", "targets-password-1")

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # shared address space (CGNAT)
    "100.127.255.254",
    "0.0.0.0",
    "224.0.0.251",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# -- the API, with the default settings (private targets refused) -------------------------


@dataclass
class Env:
    client: httpx.AsyncClient
    maker: async_sessionmaker[AsyncSession]
    headers: dict[str, str]

    async def count(self) -> int:
        r = await self.client.get(f"{OPS}/webhooks", headers=self.headers)
        total: int = r.json()["total"]
        return total


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[Env]:
    assert not settings.webhooks.allow_private_targets  # the default
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine)
    maker = app.state.sessionmaker
    async with maker() as db:
        await create_staff(db, *ADMIN)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        r = await client.post("/api/v1/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]})
        assert r.status_code == 200, r.text
        yield Env(client, maker, {"Authorization": f"Bearer {r.json()['accessToken']}"})
    await engine.dispose()


def url_of(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:8443/hook"


@pytest.mark.parametrize("address", NOT_PUBLIC)
async def test_a_non_public_target_is_refused_when_created(env: Env, address: str) -> None:
    before = await env.count()
    r = await env.client.post(f"{OPS}/webhooks", json={"url": url_of(address)}, headers=env.headers)
    problem(r, 422, "webhook.target_forbidden", "url")
    assert await env.count() == before


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://[::1]:9/x", "http://localhost:8080/x", "https://api.localhost/x"]
)
async def test_loopback_names_and_plain_http_to_loopback_are_refused_too(env: Env, url: str) -> None:
    r = await env.client.post(f"{OPS}/webhooks", json={"url": url}, headers=env.headers)
    problem(r, 422, "webhook.target_forbidden", "url")


async def test_only_http_and_https_schemes(env: Env) -> None:
    for url in ("ftp://93.184.215.14/x", "gopher://93.184.215.14/x", "file:///etc/passwd"):
        r = await env.client.post(f"{OPS}/webhooks", json={"url": url}, headers=env.headers)
        problem(r, 422, "webhook.invalid", "url")


async def test_a_public_target_is_accepted_and_cannot_be_moved_to_a_private_one(env: Env) -> None:
    r = await env.client.post(
        f"{OPS}/webhooks", json={"url": "https://93.184.215.14/hook", "active": False}, headers=env.headers
    )
    assert r.status_code == 201, r.text
    endpoint = r.json()["endpoint"]
    r = await env.client.patch(
        f"{OPS}/webhooks/{endpoint['id']}",
        json={"url": "https://169.254.169.254/latest/meta-data/"},
        headers=env.headers,
    )
    problem(r, 422, "webhook.target_forbidden", "url")
    after = (await env.client.get(f"{OPS}/webhooks/{endpoint['id']}", headers=env.headers)).json()
    assert after["url"] == "https://93.184.215.14/hook"


# -- deliveries: the name is resolved and checked on every attempt ------------------------


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[int, list[web.Request]]]:
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1], seen
    await runner.cleanup()


@pytest.fixture(scope="module")
async def maker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings.db)
    yield create_sessionmaker(engine)
    await engine.dispose()


class Dns:
    """A resolver the test answers for: name -> addresses."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError(f"{host}: no such name")
        return self.answers[host]


async def queue(maker: async_sessionmaker[AsyncSession], url: str) -> tuple[uuid.UUID, datetime]:
    """An active endpoint at ``url``, stored as is (a row from before the check existed, or
    one whose name resolved to a public address when saved), with one delivery due."""
    now = datetime.now(UTC)
    async with maker() as db:
        operator = Operator(
            name=f"Targets {uuid.uuid4().hex[:6]}", country_code="SE", party_id=uuid.uuid4().hex[:3].upper()
        )
        db.add(operator)
        await db.flush()
        endpoint = WebhookEndpoint(
            id=new_id(),
            operator_id=operator.id,
            url=url,
            description="",
            events=[],
            secret_sealed=seal(TEST_SECRET, new_secret()),
            active=True,
            created_at=now,
            updated_at=now,
        )
        db.add(endpoint)
        await db.flush()
        delivery = WebhookOutbox(db, clock=lambda: now).add(endpoint, TEST_EVENT, {"hello": "world"}, event_id=new_id())
        await db.commit()
        return delivery.id, now


async def delivery(maker: async_sessionmaker[AsyncSession], delivery_id: uuid.UUID) -> WebhookDelivery:
    async with maker() as db:
        row = await db.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


async def test_the_delivery_connects_to_the_address_it_resolved(
    maker: async_sessionmaker[AsyncSession], receiver: tuple[int, list[web.Request]]
) -> None:
    port, seen = receiver
    dns = Dns()
    # A name no real resolver knows: the POST can only arrive through the checked address.
    dns.answers["hooks.laddnat.test"] = ["127.0.0.1"]
    delivery_id, now = await queue(maker, f"http://hooks.laddnat.test:{port}/pinned")
    worker = WebhookWorker(maker, TEST_SECRET, clock=lambda: now, allow_private_targets=True, resolver=dns)
    assert await worker.send_due() == 1
    [request] = [r for r in seen if r.path == "/pinned"]
    assert request.headers["Host"] == f"hooks.laddnat.test:{port}"
    assert (await delivery(maker, delivery_id)).state == "delivered"


async def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    maker: async_sessionmaker[AsyncSession], receiver: tuple[int, list[web.Request]]
) -> None:
    port, seen = receiver
    dns = Dns()
    dns.answers["rebind.laddnat.test"] = ["93.184.215.14"]
    # Saved while its name resolved to a public address ...
    async with maker() as db:
        service = WebhookService(db, TEST_SECRET, scope=None, resolver=dns)
        endpoint, _ = await service.create(
            url=f"https://rebind.laddnat.test:{port}/rebound", description="", events=[], active=False
        )
    # ... then the answer changes (DNS rebinding) to our own loopback, where the receiver is.
    dns.answers["rebind.laddnat.test"] = ["127.0.0.1"]
    delivery_id, now = await queue(maker, f"http://rebind.laddnat.test:{port}/rebound")
    worker = WebhookWorker(maker, TEST_SECRET, clock=lambda: now, resolver=dns)
    assert await worker.send_due() == 0
    assert not [r for r in seen if r.path == "/rebound"]
    row = await delivery(maker, delivery_id)
    # Refused and logged, without what an attacker would probe for: no status, no address.
    assert (row.state, row.attempts, row.last_status, row.last_error) == ("pending", 1, None, REFUSED)
    assert "127.0.0.1" not in (row.last_error or "")
    assert endpoint.url.startswith("https://rebind.laddnat.test")


@pytest.mark.parametrize("answers", [["10.0.0.7"], ["93.184.215.14", "169.254.169.254"], ["::ffff:127.0.0.1"], []])
async def test_every_resolved_address_must_be_public(
    maker: async_sessionmaker[AsyncSession], receiver: tuple[int, list[web.Request]], answers: list[str]
) -> None:
    port, _ = receiver
    dns = Dns()
    dns.answers["mixed.laddnat.test"] = answers
    delivery_id, now = await queue(maker, f"http://mixed.laddnat.test:{port}/mixed")
    worker = WebhookWorker(maker, TEST_SECRET, clock=lambda: now, resolver=dns)
    assert await worker.send_due() == 0
    row = await delivery(maker, delivery_id)
    assert (row.last_status, row.last_error) == (None, REFUSED)


async def test_a_name_that_does_not_resolve_is_logged_like_a_refusal(maker: async_sessionmaker[AsyncSession]) -> None:
    delivery_id, now = await queue(maker, "https://nowhere.laddnat.test/x")
    worker = WebhookWorker(maker, TEST_SECRET, clock=lambda: now + timedelta(seconds=1), resolver=Dns())
    await worker.send_due()
    assert (await delivery(maker, delivery_id)).last_error == REFUSED


async def test_a_literal_private_address_stored_before_the_check_is_refused_at_delivery(
    maker: async_sessionmaker[AsyncSession], receiver: tuple[int, list[web.Request]]
) -> None:
    port, seen = receiver
    delivery_id, now = await queue(maker, f"http://127.0.0.1:{port}/literal")
    worker = WebhookWorker(maker, TEST_SECRET, clock=lambda: now)
    assert await worker.send_due() == 0
    assert not [r for r in seen if r.path == "/literal"]
    assert (await delivery(maker, delivery_id)).last_error == REFUSED


def test_private_targets_are_a_setting_off_by_default() -> None:
    base = {"LADDNAT_SECRET_KEY": TEST_SECRET}
    assert not Settings.from_env(base).webhooks.allow_private_targets
    assert Settings.from_env({**base, "LADDNAT_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true"}).webhooks.allow_private_targets
