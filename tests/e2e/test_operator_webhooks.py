"""Operator webhooks end to end: the real app over ASGI and a real database, a real HTTP
receiver on loopback (aiohttp); bus events go in, signed POSTs come out, retried with
backoff by a worker whose clock the test drives."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from app.chargers.models import Evse
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine
from app.core.settings import Settings, WebhookSettings
from app.drivers.service import UserService
from app.health.events import IncidentChanged, IncidentOpened, IncidentResolved
from app.main import create_app
from app.operators.models import Operator
from app.operators.webhooks.outbox import MAX_ATTEMPTS, backoff
from app.operators.webhooks.signing import verify
from app.operators.webhooks.worker import WebhookWorker
from payments.events import PaymentSettled
from payments.models import Payment
from tests.conftest import TEST_SECRET
from tests.e2e.test_api import problem, running

OPS = "/api/v1/operator"
PASSWORD = "operator-password-1"


# -- a receiver on loopback ------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    def verifies(self, secret: str, *, now: float | None = None) -> bool:
        return verify(
            secret,
            self.headers["Laddnat-Webhook-Timestamp"],
            self.body,
            self.headers["Laddnat-Webhook-Signature"],
            300,
            now=now,
        )


@dataclass
class Receiver:
    """Records every POST; ``fail[path] = n`` answers the next n there with a 500."""

    requests: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    base_url: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.path, dict(request.headers), await request.read()))
        self._changed.set()
        if self.fail.get(request.path, 0) > 0:
            self.fail[request.path] -= 1
            return web.Response(status=500, text="not today")
        return web.Response(status=200, text="ok")

    def new_path(self) -> str:
        return f"/hooks/{uuid.uuid4().hex[:12]}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, path: str, count: int, timeout_s: float = 10.0) -> list[Received]:
        async def _wait() -> list[Received]:
            while len(self.at(path)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.at(path)

        return await asyncio.wait_for(_wait(), timeout_s)


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


# -- the API with the admins of three operator companies: A, B and C ---------------------


@dataclass
class Hooks:
    client: httpx.AsyncClient
    bus: InProcessBus
    maker: Any
    operator_a: uuid.UUID
    operator_b: uuid.UUID
    operator_c: uuid.UUID
    headers: dict[str, dict[str, str]]  # "a" | "b" | "c"

    async def create(self, who: str, url: str, **body: Any) -> dict[str, Any]:
        r = await self.client.post(f"{OPS}/webhooks", json={"url": url, **body}, headers=self.headers[who])
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    async def deliveries(self, who: str, webhook_id: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"{OPS}/webhooks/{webhook_id}/deliveries", headers=self.headers[who])
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def wait_for_log(
        self, who: str, webhook_id: str, ok: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 10.0
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout_s):
            while not ok(items := await self.deliveries(who, webhook_id)):
                await asyncio.sleep(0.02)
        return items


@pytest.fixture(scope="module")
async def hooks(settings: Settings) -> AsyncIterator[Hooks]:
    # The receiver is on loopback: a target refused unless private targets are allowed.
    settings = dataclasses.replace(settings, webhooks=WebhookSettings(allow_private_targets=True))
    engine = create_engine(settings.db)
    bus = InProcessBus()
    app = create_app(settings, engine=engine, bus=bus)
    maker = app.state.sessionmaker
    async with maker() as db:
        a = Operator(name="Operator A", country_code="SE", party_id="AAA")
        b = Operator(name="Operator B", country_code="SE", party_id="BBB")
        c = Operator(name="Operator C", country_code="SE", party_id="CCC")
        db.add_all([a, b, c])
        await db.commit()
        users = UserService(db)
        await users.create_user("a@hooks.test", PASSWORD, "admin", operator_id=a.id)
        await users.create_user("b@hooks.test", PASSWORD, "admin", operator_id=b.id)
        await users.create_user("c@hooks.test", PASSWORD, "admin", operator_id=c.id)
    await bus.start()
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        headers = {}
        for who in ("a", "b", "c"):
            r = await client.post("/api/v1/auth/token", json={"email": f"{who}@hooks.test", "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers[who] = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        yield Hooks(client, bus, maker, a.id, b.id, c.id, headers)
    await bus.close()
    await engine.dispose()


def opened(operator_id: uuid.UUID | None, **extra: Any) -> IncidentOpened:
    fields: dict[str, Any] = {
        "incident_id": uuid.uuid4(),
        "operator_id": operator_id,
        "identity": "CP-HOOK-1",
        "location_id": None,
        "evse": 1,
        "connectors": [1],
        "kind": "overheating",
        "cause": "overheating",
        "severity": "critical",
        "confidence": 0.9,
        "summary": "The charger is overheating.",
        "opened_at": datetime(2026, 11, 25, 20, 0, tzinfo=UTC),
    }
    return IncidentOpened(**(fields | extra))


async def payment_of(hooks: Hooks, operator_id: uuid.UUID) -> uuid.UUID:
    """A payment row of ``operator_id``: the payment.settled event names only the payment,
    whose company decides who is told."""
    async with hooks.maker() as db:
        cp = await ChargerService(db, hooks.bus).register(
            f"CP-PAY-{uuid.uuid4().hex[:8]}", "hook-charger-password", evse_count=1
        )
        evse_id = await db.scalar(select(Evse.id).where(Evse.charge_point_id == cp.id))
        payment = Payment(
            operator_id=operator_id,
            provider="stripe",
            currency="SEK",
            hold_minor=25_000,
            evse_id=evse_id,
            id_token=uuid.uuid4().hex[:20],
            tariff_snapshot={},
        )
        db.add(payment)
        await db.commit()
        return payment.id


# -- tests -----------------------------------------------------------------------------


async def test_create_shows_the_secret_once_and_never_again(hooks: Hooks, receiver: Receiver) -> None:
    r = await hooks.client.post(
        f"{OPS}/webhooks",
        json={"url": receiver.base_url + receiver.new_path(), "description": "ops room", "events": ["incident.opened"]},
        headers=hooks.headers["a"],
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_")
    endpoint = created["endpoint"]
    assert endpoint["operatorId"] == str(hooks.operator_a)
    assert (endpoint["description"], endpoint["events"], endpoint["active"]) == ("ops room", ["incident.opened"], True)

    one = await hooks.client.get(f"{OPS}/webhooks/{endpoint['id']}", headers=hooks.headers["a"])
    listed = await hooks.client.get(f"{OPS}/webhooks", headers=hooks.headers["a"])
    for response in (one, listed):
        assert response.status_code == 200
        assert created["secret"] not in response.text and "secret" not in response.text.lower()
    assert one.json() == endpoint
    assert endpoint["id"] in {e["id"] for e in listed.json()["items"]}


async def test_incident_opened_reaches_the_receiver_signed(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    created = await hooks.create("a", receiver.base_url + path)
    secret, webhook_id = created["secret"], created["endpoint"]["id"]
    event = opened(hooks.operator_a)

    hooks.bus.publish(event)

    [request] = await receiver.wait_for(path, 1)
    assert request.verifies(secret)
    assert not request.verifies("whsec_not-the-secret")
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert body["id"] == request.headers["Laddnat-Webhook-Id"]
    assert body["type"] == "incident.opened"
    assert body["createdAt"].endswith("Z")
    assert body["data"] == {
        "incidentId": str(event.incident_id),
        "operatorId": str(hooks.operator_a),
        "identity": "CP-HOOK-1",
        "locationId": None,
        "evse": 1,
        "connectors": [1],
        "kind": "overheating",
        "cause": "overheating",
        "severity": "critical",
        "confidence": 0.9,
        "summary": "The charger is overheating.",
        "openedAt": "2026-11-25T20:00:00Z",
    }
    [entry] = await hooks.wait_for_log("a", webhook_id, lambda items: bool(items) and items[0]["state"] == "delivered")
    assert entry["id"] == body["id"]
    assert (entry["type"], entry["attempts"], entry["lastStatus"], entry["lastError"]) == (
        "incident.opened",
        1,
        200,
        None,
    )
    assert entry["deliveredAt"] is not None and entry["nextAttemptAt"] is None


async def test_the_same_event_published_twice_is_delivered_once(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    created = await hooks.create("a", receiver.base_url + path)
    event = opened(hooks.operator_a)

    hooks.bus.publish(event)
    hooks.bus.publish(event)

    await receiver.wait_for(path, 1)
    # A later event proves the first two were handled: the bus delivers in order.
    hooks.bus.publish(opened(hooks.operator_a))
    await receiver.wait_for(path, 2)
    log = await hooks.deliveries("a", created["endpoint"]["id"])
    assert len(log) == 2
    assert len({r.json["id"] for r in receiver.at(path)}) == 2


async def test_failures_are_retried_with_backoff_and_the_same_event_id(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    created = await hooks.create("a", receiver.base_url + path)
    secret, webhook_id = created["secret"], created["endpoint"]["id"]
    receiver.fail[path] = 2

    hooks.bus.publish(opened(hooks.operator_a))

    # The app's worker makes the first attempt at once; the receiver answers 500.
    await receiver.wait_for(path, 1)
    [entry] = await hooks.wait_for_log("a", webhook_id, lambda items: bool(items) and items[0]["lastStatus"] == 500)
    assert (entry["state"], entry["attempts"], entry["lastError"]) == ("pending", 1, "HTTP 500")
    first_attempt = datetime.fromisoformat(entry["lastAttemptAt"])
    assert datetime.fromisoformat(entry["nextAttemptAt"]) == first_attempt + timedelta(seconds=30)

    # The retries, on a clock the test moves: nothing before the backoff is over.
    now = first_attempt + timedelta(seconds=29)
    worker = WebhookWorker(hooks.maker, TEST_SECRET, clock=lambda: now, allow_private_targets=True)
    assert await worker.send_due() == 0
    assert len(receiver.at(path)) == 1

    now = first_attempt + backoff(1)
    assert await worker.send_due() == 0  # the second attempt: 500 again
    [entry] = await hooks.deliveries("a", webhook_id)
    assert (entry["attempts"], entry["lastStatus"], entry["state"]) == (2, 500, "pending")
    assert datetime.fromisoformat(entry["nextAttemptAt"]) == now + timedelta(minutes=1)

    now = now + backoff(2)
    assert await worker.send_due() == 1  # the third: 200
    requests = receiver.at(path)
    assert len(requests) == 3
    assert len({r.headers["Laddnat-Webhook-Id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1  # the same body every time; only the signature's time moves
    assert requests[-1].headers["Laddnat-Webhook-Timestamp"] == str(int(now.timestamp()))
    assert requests[-1].verifies(secret, now=now.timestamp())
    [entry] = await hooks.deliveries("a", webhook_id)
    assert (entry["state"], entry["attempts"], entry["lastStatus"], entry["lastError"]) == ("delivered", 3, 200, None)
    assert await worker.send_due() == 0  # delivered is done


async def test_a_delivery_that_keeps_failing_is_marked_failed(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    # Inactive while the event is stored: the app's own worker leaves it to ours.
    created = await hooks.create("c", receiver.base_url + path, events=["incident.resolved"])
    webhook_id = created["endpoint"]["id"]
    receiver.fail[path] = 1000
    now = datetime.now(UTC) + timedelta(days=1)
    worker = WebhookWorker(hooks.maker, TEST_SECRET, clock=lambda: now, allow_private_targets=True)

    hooks.bus.publish(
        IncidentResolved(
            incident_id=uuid.uuid4(),
            operator_id=hooks.operator_c,
            identity="CP-HOOK-2",
            cause="site_network",
            summary="Back online.",
            resolved_at=datetime(2026, 11, 25, 21, 0, tzinfo=UTC),
            automatic=True,
        )
    )
    await receiver.wait_for(path, 1)
    await hooks.wait_for_log("c", webhook_id, lambda items: bool(items) and items[0]["lastStatus"] == 500)
    for attempt in range(2, MAX_ATTEMPTS + 1):
        now += backoff(attempt - 1)
        await worker.send_due()
        assert len(receiver.at(path)) == attempt
    [entry] = await hooks.deliveries("c", webhook_id)
    assert (entry["state"], entry["attempts"], entry["nextAttemptAt"]) == ("failed", MAX_ATTEMPTS, None)
    now += timedelta(days=7)
    assert await worker.send_due() == 0
    assert len(receiver.at(path)) == MAX_ATTEMPTS
    failed = await hooks.client.get(
        f"{OPS}/webhooks/{webhook_id}/deliveries", params={"state": "failed"}, headers=hooks.headers["c"]
    )
    assert failed.json()["total"] == 1


async def test_event_type_and_operator_filters_are_respected(hooks: Hooks, receiver: Receiver) -> None:
    paths = {name: receiver.new_path() for name in ("a_resolved_only", "a_all", "b_all", "c_all", "a_off")}
    ids = {
        "a_resolved_only": (
            await hooks.create("a", receiver.base_url + paths["a_resolved_only"], events=["incident.resolved"])
        ),
        "a_all": await hooks.create("a", receiver.base_url + paths["a_all"]),
        "b_all": await hooks.create("b", receiver.base_url + paths["b_all"]),
        "c_all": await hooks.create("c", receiver.base_url + paths["c_all"]),
        "a_off": await hooks.create("a", receiver.base_url + paths["a_off"], active=False),
    }
    owner = {"a_resolved_only": "a", "a_all": "a", "b_all": "b", "c_all": "c", "a_off": "a"}

    hooks.bus.publish(opened(hooks.operator_a))
    change = IncidentChanged(
        incident_id=uuid.uuid4(),
        operator_id=hooks.operator_b,
        identity="CP-B",
        state="acknowledged",
        cause="grid_supply",
        severity="warning",
        summary="Acknowledged.",
        change="acknowledged",
        at=datetime(2026, 11, 25, 20, 5, tzinfo=UTC),
    )
    hooks.bus.publish(change)
    hooks.bus.publish(opened(hooks.operator_c, identity="CP-C"))

    # The bus delivers in order, so once the last event is here the others were handled too.
    await receiver.wait_for(paths["c_all"], 1)
    await receiver.wait_for(paths["b_all"], 1)
    await receiver.wait_for(paths["a_all"], 1)
    types = {
        name: sorted(d["type"] for d in await hooks.deliveries(owner[name], created["endpoint"]["id"]))
        for name, created in ids.items()
    }
    assert types == {
        "a_resolved_only": [],
        "a_all": ["incident.opened"],
        "b_all": ["incident.changed"],
        "c_all": ["incident.opened"],  # its own; neither A's nor B's
        "a_off": [],
    }
    [c_request] = receiver.at(paths["c_all"])
    assert c_request.json["data"]["identity"] == "CP-C"
    [b_request] = receiver.at(paths["b_all"])
    assert b_request.verifies(ids["b_all"]["secret"])
    assert b_request.json["data"]["change"] == "acknowledged"


async def test_an_operator_sees_only_its_own_endpoints(hooks: Hooks, receiver: Receiver) -> None:
    a_hook = (await hooks.create("a", receiver.base_url + receiver.new_path()))["endpoint"]["id"]

    listed = (await hooks.client.get(f"{OPS}/webhooks?limit=500", headers=hooks.headers["b"])).json()["items"]
    assert listed and {e["operatorId"] for e in listed} == {str(hooks.operator_b)}
    for method, suffix in (
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("GET", "/deliveries"),
    ):
        r = await hooks.client.request(
            method,
            f"{OPS}/webhooks/{a_hook}{suffix}",
            json={"active": False} if method == "PATCH" else None,
            headers=hooks.headers["b"],
        )
        problem(r, 404, "webhook.not_found")
    c_listed = (await hooks.client.get(f"{OPS}/webhooks?limit=500", headers=hooks.headers["c"])).json()["items"]
    assert a_hook not in {e["id"] for e in c_listed}
    assert (await hooks.client.get(f"{OPS}/webhooks/{a_hook}", headers=hooks.headers["a"])).json()["active"] is True


async def test_payment_settled_goes_to_subscribers_of_payments(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    created = await hooks.create("c", receiver.base_url + path, events=["payment.settled"])
    payment_id = await payment_of(hooks, hooks.operator_c)

    hooks.bus.publish(
        PaymentSettled(
            payment_id=payment_id, status="captured", captured_minor=4250, currency="SEK", transaction_id=None
        )
    )

    [request] = await receiver.wait_for(path, 1)
    assert request.verifies(created["secret"])
    assert request.json["type"] == "payment.settled"
    assert request.json["data"] == {
        "paymentId": str(payment_id),
        "status": "captured",
        "capturedMinor": 4250,
        "currency": "SEK",
        "transactionId": None,
    }


async def test_rotating_the_secret_changes_the_signature(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    created = await hooks.create("a", receiver.base_url + path, events=["incident.resolved"])
    old, webhook_id = created["secret"], created["endpoint"]["id"]

    r = await hooks.client.post(f"{OPS}/webhooks/{webhook_id}/rotate-secret", headers=hooks.headers["a"])
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new.startswith("whsec_") and new != old

    # A test event goes out whatever the endpoint subscribes to.
    r = await hooks.client.post(f"{OPS}/webhooks/{webhook_id}/test", headers=hooks.headers["a"])
    assert r.status_code == 202, r.text
    assert (r.json()["type"], r.json()["state"]) == ("webhook.test", "pending")
    [request] = await receiver.wait_for(path, 1)
    assert request.json["id"] == r.json()["id"]
    assert request.json["type"] == "webhook.test"
    assert request.json["data"]["webhookId"] == webhook_id
    assert request.verifies(new)
    assert not request.verifies(old)


async def test_a_test_event_to_an_inactive_endpoint_is_refused(hooks: Hooks, receiver: Receiver) -> None:
    created = await hooks.create("a", receiver.base_url + receiver.new_path(), active=False)
    r = await hooks.client.post(f"{OPS}/webhooks/{created['endpoint']['id']}/test", headers=hooks.headers["a"])
    problem(r, 409, "webhook.inactive")


async def test_patch_changes_only_what_is_sent(hooks: Hooks, receiver: Receiver) -> None:
    created = await hooks.create("a", receiver.base_url + receiver.new_path(), description="first")
    webhook_id = created["endpoint"]["id"]
    new_url = receiver.base_url + receiver.new_path()

    r = await hooks.client.patch(
        f"{OPS}/webhooks/{webhook_id}",
        json={"url": new_url, "events": ["incident.changed", "incident.changed"], "active": False},
        headers=hooks.headers["a"],
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["url"], out["events"], out["active"], out["description"]) == (
        new_url,
        ["incident.changed"],
        False,
        "first",
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "http://example.com/hook"}, "webhook.invalid", "url"),
        ({"url": "ftp://example.com/hook"}, "webhook.invalid", "url"),
        ({"url": "https://user:pw@example.com/hook"}, "webhook.invalid", "url"),
        ({"url": "not a url"}, "webhook.invalid", "url"),
        ({"url": "https://example.com/hook", "events": ["incident.exploded"]}, "request.invalid", "events[0]"),
        ({"url": "https://example.com/hook", "secret": "mine"}, "request.invalid", "secret"),
        ({}, "request.invalid", None),
    ],
)
async def test_invalid_endpoints_are_422_and_change_nothing(
    hooks: Hooks, body: dict[str, Any], code: str, field: str | None
) -> None:
    before = (await hooks.client.get(f"{OPS}/webhooks", headers=hooks.headers["a"])).json()["total"]
    r = await hooks.client.post(f"{OPS}/webhooks", json=body, headers=hooks.headers["a"])
    problem(r, 422, code, field)
    assert (await hooks.client.get(f"{OPS}/webhooks", headers=hooks.headers["a"])).json()["total"] == before


async def test_an_invalid_patch_is_422_and_changes_nothing(hooks: Hooks, receiver: Receiver) -> None:
    created = await hooks.create("a", receiver.base_url + receiver.new_path(), events=["incident.opened"])
    webhook_id = created["endpoint"]["id"]
    for body, code, culprit in (
        ({"url": "http://10.0.0.5/hook", "events": []}, "webhook.invalid", "url"),
        ({"events": ["webhook.test"]}, "request.invalid", "events[0]"),
    ):
        r = await hooks.client.patch(f"{OPS}/webhooks/{webhook_id}", json=body, headers=hooks.headers["a"])
        problem(r, 422, code, culprit)
    after = (await hooks.client.get(f"{OPS}/webhooks/{webhook_id}", headers=hooks.headers["a"])).json()
    assert after == created["endpoint"]


async def test_https_and_loopback_http_urls_are_accepted(hooks: Hooks) -> None:
    for url in ("https://hooks.example.com/laddnat", "http://localhost:8080/x", "http://[::1]:9/x"):
        created = await hooks.create("a", url, active=False)
        assert created["endpoint"]["url"] == url


async def test_deleting_an_endpoint_removes_it_and_its_log(hooks: Hooks, receiver: Receiver) -> None:
    path = receiver.new_path()
    created = await hooks.create("a", receiver.base_url + path)
    webhook_id = created["endpoint"]["id"]
    assert (await hooks.client.post(f"{OPS}/webhooks/{webhook_id}/test", headers=hooks.headers["a"])).status_code == 202
    await receiver.wait_for(path, 1)

    r = await hooks.client.delete(f"{OPS}/webhooks/{webhook_id}", headers=hooks.headers["a"])
    assert r.status_code == 204, r.text
    problem(
        await hooks.client.get(f"{OPS}/webhooks/{webhook_id}", headers=hooks.headers["a"]), 404, "webhook.not_found"
    )
    problem(
        await hooks.client.get(f"{OPS}/webhooks/{webhook_id}/deliveries", headers=hooks.headers["a"]),
        404,
        "webhook.not_found",
    )


async def test_drivers_cannot_manage_webhooks(hooks: Hooks) -> None:
    r = await hooks.client.get(f"{OPS}/webhooks")
    problem(r, 401, "auth.unauthenticated")
