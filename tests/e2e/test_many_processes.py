"""One network, many real processes (issue 16): two bridges, two APIs and two workers as
`laddnat` child processes on a test-owned nats-server and one PostgreSQL database.

Commands reach a charger whichever API asks and whichever bridge holds it; a bridge killed
with SIGKILL loses nothing (its chargers move to the other bridge, every transaction is
recorded once with its energy); NATS killed and restarted loses nothing either; a paid session
started on a charger of one bridge shows live on the other API's driver stream and checkout
status, is stopped once at its hold by the workers' fan-out watch and captured once by two
payment workers; the fault-detection leader killed with SIGKILL hands over to the other
worker, which opens the next incident once and no false offline ones.

The network is started once for the module (the slow part); a test that kills a process or
NATS leaves it to ``net``, which starts again whatever is down before the next test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import nats.js.errors
import pytest
from sqlalchemy import select

from app.billing.paid_sessions import PaidSessionService
from app.chargers.models import ChargePoint, Evse, Location
from app.chargers.service import ChargerService
from app.checkout.models import CheckoutLink
from app.core.bus import InProcessBus, create_bus
from app.core.bus_nats import LEADERS_BUCKET, REGISTRY_BUCKET, STREAM, consumer_name, registry_key
from app.core.database import create_engine, create_sessionmaker
from app.core.security import digest_secret
from app.core.settings import DatabaseSettings, PaymentSettings, Settings, StripeSettings
from app.drivers.models import IdToken
from app.drivers.service import UserService
from app.health.models import Incident
from app.operators.models import Operator
from app.sessions.models import MeterSample, Transaction
from app.tariffs.service import TariffService
from devtools.fakes.stripe.localstripe import running_localstripe
from devtools.fakes.stripe.proxy import StripeQuirksProxy, running_proxy
from devtools.simulator import SimConfig, SimulatedCharger
from devtools.simulator.model import Clock
from payments.models import Payment, PaymentTransition
from payments.registry import Providers
from payments.service import SavedCard
from tests.e2e.ocpp_helpers import PASSWORD
from tests.e2e.payments.paid_stack import TERMS, eventually, stripe_client
from tests.e2e.test_bus_contract import NATS_SERVER, NatsServer
from tests.e2e.test_process_roles import Process, process, readiness_becomes
from tests.support import create_staff

# Starts processes of its own: left out of `make test-fast` (see tests/conftest.py).
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed"),
    pytest.mark.skipif(
        not os.environ.get("LADDNAT_TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="many processes share one database: PostgreSQL only",
    ),
]

PASSWORD_OF_OPERATOR = "ops-password-123"
PASSWORD_OF_DRIVER = "driver-password-123"
HEARTBEAT = {"message": "Heartbeat"}
ENERGY = "Energy.Active.Import.Register"
SAMPLE_S = 360  # 11 kW for 6 minutes: 1100 Wh, whole in both OCPP versions' meter values
STRIPE = StripeSettings(secret_key="sk_test_laddnat", webhook_secret="whsec_laddnat_test", publishable_key="pk_test")
# Every process: chargers heartbeat each second and count as offline after 4 s of silence
# (2 heartbeats + 2 s), under a health leader's takeover (its 5 s key expires, then a standby
# tries every 1.7 s and loads its state): a new leader that trusted the gap would open offline
# incidents. No playbooks: a Reset would disturb the other tests' chargers
# (tests/e2e/test_health_leader.py covers them).
HEALTH_ENV = {
    "LADDNAT_HEARTBEAT_INTERVAL_S": "1",
    "LADDNAT_HEALTH_OFFLINE_GRACE_S": "2",
    "LADDNAT_HEALTH_SELF_HEALING": "false",
    "LADDNAT_HEALTH_COLLECT_DIAGNOSTICS": "false",
}


def ticking_clock(start: datetime | None = None) -> Clock:
    """A second later at every reading: no two messages of a charger share a timestamp."""
    seconds = itertools.count()
    first = start or datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    return lambda: first + timedelta(seconds=next(seconds))


class Network:
    """The processes, the operator's bearer header and the database, as the test sees them."""

    def __init__(self, http: httpx.AsyncClient, database_url: str, tmp: Path, **env: str) -> None:
        self.http = http
        self.nats = NatsServer(tmp / "nats")
        env = {"LADDNAT_BUS_URL": self.nats.url, **HEALTH_ENV, **env}
        self.bridges = [process(("bridge",), database_url, f"bridge-{n}", tmp, **env) for n in (1, 2)]
        self.apis = [process(("api",), database_url, f"api-{n}", tmp, **env) for n in (1, 2)]
        work = ("worker", "--payments", "--webhooks", "--mail", "--health")
        self.workers = [process(work, database_url, f"worker-{n}", tmp, **env) for n in (1, 2)]
        self.engine = create_engine(DatabaseSettings(url=database_url))
        self.maker = create_sessionmaker(self.engine)
        self.operator_email = f"ops-{uuid.uuid4().hex[:8]}@many.test"
        self.tag = f"TAG-{uuid.uuid4().hex[:8]}"
        self.headers: dict[str, str] = {}
        self.tenant_id: uuid.UUID | None = None

    @property
    def processes(self) -> list[Process]:
        return [*self.bridges, *self.apis, *self.workers]

    def ocpp_url(self, bridge: Process) -> str:
        return f"ws://127.0.0.1:{bridge.port}/ocpp"

    async def register(self) -> str:
        identity = f"MANY-{uuid.uuid4().hex[:8]}"
        async with self.maker() as db:
            await ChargerService(db, InProcessBus(), tenant_id=self.tenant_id).register(
                identity, PASSWORD, evse_count=1
            )
        return identity

    async def charger_id(self, identity: str) -> uuid.UUID:
        async with self.maker() as db:
            cp_id = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
        assert cp_id is not None
        return cp_id

    async def command(self, api: Process, identity: str, name: str, body: Any) -> httpx.Response:
        cp_id = await self.charger_id(identity)
        return await self.http.post(
            f"{api.url}/api/v1/operator/chargers/{cp_id}/commands/{name}", json=body, headers=self.headers
        )

    async def transactions(self, identity: str) -> list[Transaction]:
        async with self.maker() as db:
            rows = await db.scalars(
                select(Transaction)
                .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
                .where(ChargePoint.identity == identity)
            )
            return list(rows)

    async def periodic_energy_samples(self, tx: Transaction) -> int:
        async with self.maker() as db:
            rows = await db.scalars(
                select(MeterSample.id).where(
                    MeterSample.transaction_id == tx.id,
                    MeterSample.measurand == ENERGY,
                    MeterSample.context == "Sample.Periodic",
                )
            )
            return len(list(rows))

    async def revive(self) -> None:
        """Start again whatever a test killed (NATS, a process) and wait until all are ready."""
        if self.nats.proc is None:
            self.nats.start()
        dead = [proc for proc in self.processes if proc.proc is None or proc.proc.returncode is not None]
        await asyncio.gather(*(proc.start(self.http) for proc in dead))
        for proc in self.processes:
            await readiness_becomes(self.http, proc, 200)

    async def registered(self, identity: str) -> None:
        """Once the command registry names a bridge for the charger (a moment after it connects)."""
        nc = await nats.connect(self.nats.url)
        try:
            kv = await nc.jetstream().key_value(REGISTRY_BUCKET)
            async with asyncio.timeout(10):
                while True:
                    try:
                        await kv.get(registry_key(f"commands.{identity}"))
                        return
                    except nats.js.errors.NotFoundError:
                        await asyncio.sleep(0.05)
        finally:
            await nc.close()

    async def consumer_settled(self, durable: str) -> None:
        """Once the group's consumer has nothing pending or unacked, every event published
        before this call has been handled (the server's count, not a wait)."""
        nc = await nats.connect(self.nats.url)
        try:
            js = nc.jetstream()
            async with asyncio.timeout(30):
                while True:
                    info = await js.consumer_info(STREAM, durable)
                    if info.num_pending == 0 and info.num_ack_pending == 0:
                        return
                    await asyncio.sleep(0.05)
        finally:
            await nc.close()

    async def leader(self, role: str) -> Process:
        """The worker whose node id the leader key of ``role`` names, once its consumer exists."""
        nc = await nats.connect(self.nats.url)
        try:
            js = nc.jetstream()
            async with asyncio.timeout(30):
                while True:
                    try:
                        node = (await (await js.key_value(LEADERS_BUCKET)).get(role)).value
                        await js.consumer_info(STREAM, consumer_name(role, "*"))
                    except nats.js.errors.NotFoundError:
                        node = None
                    found = [w for w in self.workers if node == w.env["LADDNAT_NODE_ID"].encode()]
                    if found:
                        return found[0]
                    await asyncio.sleep(0.1)
        finally:
            await nc.close()


@pytest.fixture(scope="module")
def stripe_proxy() -> Iterator[StripeQuirksProxy]:
    """localstripe behind the quirks proxy, which counts what reaches Stripe."""
    with running_localstripe() as server, running_proxy(server.url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def network(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stripe_proxy: StripeQuirksProxy
) -> AsyncIterator[Network]:
    """The module's one network: every test shares its processes (each with its own chargers)."""
    stripe_env = {
        "LADDNAT_STRIPE_SECRET_KEY": STRIPE.secret_key,
        "LADDNAT_STRIPE_WEBHOOK_SECRET": STRIPE.webhook_secret,
        "LADDNAT_STRIPE_API_BASE": stripe_proxy.url,
        "LADDNAT_PAYMENT_PROVIDER": "stripe",
        "LADDNAT_PAYMENT_SWEEP_INTERVAL_S": "1",
    }
    tmp = tmp_path_factory.mktemp("many")
    async with httpx.AsyncClient(timeout=15) as http:
        net = Network(http, database_url, tmp, **stripe_env)
        net.nats.start()
        async with net.maker() as db:
            staff = await create_staff(db, net.operator_email, PASSWORD_OF_OPERATOR)
            db.add(IdToken(token=net.tag, status="Accepted"))
            await db.commit()
        net.tenant_id = staff.operator_id
        try:
            await asyncio.gather(*(proc.start(http) for proc in net.processes))
            login = {"email": net.operator_email, "password": PASSWORD_OF_OPERATOR}
            token = (await http.post(f"{net.apis[0].url}/api/v1/auth/token", json=login)).json()
            net.headers = {"Authorization": f"Bearer {token['accessToken']}"}
            yield net
        finally:
            await asyncio.gather(*(proc.stop() for proc in net.processes), return_exceptions=True)
            if net.nats.proc is not None:
                net.nats.kill()
            await net.engine.dispose()


@pytest.fixture
async def net(network: Network) -> Network:
    await network.revive()
    return network


async def charger_on(net: Network, bridge: Process, version: str) -> SimulatedCharger:
    identity = await net.register()
    # Samples only when the test sends them: the energy it expects is then exact.
    config = SimConfig(
        url=net.ocpp_url(bridge), identity=identity, password=PASSWORD, version=version, id_tag=net.tag,
        meter_interval_s=3600,
    )  # fmt: skip
    charger = SimulatedCharger(config, clock=ticking_clock())
    await charger.connect()
    await charger.boot()
    return charger


async def answered(net: Network, api: Process, charger: SimulatedCharger) -> dict[str, Any]:
    reply = await net.command(api, charger.identity, "trigger-message", HEARTBEAT)
    assert reply.status_code == 200, (api.args, charger.identity, reply.text)
    out: dict[str, Any] = reply.json()
    assert (out["outcome"], out["status"]) == ("answered", "Accepted"), out
    return out


async def reachable_within(net: Network, api: Process, charger: SimulatedCharger, limit_s: float) -> None:
    """Commands reach the charger again within ``limit_s`` (the registry follows it to its new bridge)."""
    async with asyncio.timeout(limit_s):
        while True:
            reply = await net.command(api, charger.identity, "trigger-message", HEARTBEAT)
            if reply.status_code == 200 and reply.json()["outcome"] == "answered":
                return
            await asyncio.sleep(0.05)


async def test_commands_cross_every_api_and_bridge_and_a_killed_bridge_loses_nothing(net: Network) -> None:
    first, second = net.bridges
    chargers = [
        await charger_on(net, first, "1.6"),
        await charger_on(net, first, "2.0.1"),
        await charger_on(net, second, "1.6"),
        await charger_on(net, second, "2.0.1"),
    ]
    on_first = chargers[:2]

    # Each API reaches each charger, whichever bridge holds it; the registry names the bridge
    # a moment after the charger connects.
    for api in net.apis:
        for charger in chargers:
            await reachable_within(net, api, charger, 5)
            await answered(net, api, charger)
    # A charger no bridge holds.
    nowhere = await net.register()
    for api in net.apis:
        reply = await net.command(api, nowhere, "trigger-message", HEARTBEAT)
        assert reply.status_code == 409 and reply.json()["code"] == "charger.offline", reply.text

    # A session on every charger, with a sample, then the first bridge dies mid-session.
    starts = {}
    for charger in chargers:
        starts[charger.identity] = charger.energy_wh()
        await charger.start_transaction()
        await charger.send_meter_values(seconds=SAMPLE_S)
    first_proc = first.proc
    assert first_proc is not None
    first_proc.send_signal(signal.SIGKILL)
    await first_proc.wait()

    # While away its chargers keep charging (queued), then come online at the other bridge.
    for charger in chargers:
        await charger.send_meter_values(seconds=SAMPLE_S)
    for charger in on_first:
        await charger.move_to(net.ocpp_url(second))
    for api in net.apis:
        for charger in chargers:
            await reachable_within(net, api, charger, 3)

    for charger in chargers:
        await charger.send_meter_values(seconds=SAMPLE_S)
        await charger.stop_transaction()
        await charger.close()

    # Every transaction once, completed, with exactly the energy metered.
    for charger in chargers:
        expected = round(charger.energy_wh()) - round(starts[charger.identity])
        recorded = await net.transactions(charger.identity)
        assert [(tx.status, tx.energy_wh) for tx in recorded] == [("completed", expected)], charger.identity
        assert await net.periodic_energy_samples(recorded[0]) == 3, (charger.identity, charger.version)


async def test_nats_killed_and_restarted_while_chargers_send_loses_nothing(net: Network) -> None:
    chargers = [await charger_on(net, net.bridges[0], "1.6"), await charger_on(net, net.bridges[1], "2.0.1")]
    starts = {}
    for charger in chargers:
        await reachable_within(net, net.apis[0], charger, 5)
        starts[charger.identity] = charger.energy_wh()
        await charger.start_transaction()
        await charger.send_meter_values(seconds=SAMPLE_S)

    net.nats.kill()
    for proc in net.processes:
        gone = await readiness_becomes(net.http, proc, 503)
        assert gone.json()["code"] == "bus.unreachable", (proc.args, gone.text)
    # Commands cannot travel: a precise 503, nothing sent.
    for api in net.apis:
        reply = await net.command(api, chargers[0].identity, "trigger-message", HEARTBEAT)
        assert reply.status_code == 503 and reply.json()["code"] == "charger.commands_unavailable", reply.text
    # The bridges keep taking what the chargers send without the bus.
    for _ in range(3):
        for charger in chargers:
            await charger.send_meter_values(seconds=SAMPLE_S)
    net.nats.start()
    for proc in net.processes:
        await readiness_becomes(net.http, proc, 200)
    for api in net.apis:
        for charger in chargers:
            await reachable_within(net, api, charger, 5)

    for charger in chargers:
        await charger.send_meter_values(seconds=SAMPLE_S)
        await charger.stop_transaction()
        await charger.close()
    for charger in chargers:
        expected = round(charger.energy_wh()) - round(starts[charger.identity])
        [tx] = await net.transactions(charger.identity)
        assert (tx.status, tx.energy_wh) == ("completed", expected), (charger.identity, charger.version)
        assert await net.periodic_energy_samples(tx) == 5, (charger.identity, charger.version)


# -- a paid session: live on the other API, stopped at its hold once, captured once -------


async def test_a_paid_session_shows_live_on_the_other_api_stops_at_its_hold_and_is_captured_once(
    net: Network, stripe_proxy: StripeQuirksProxy
) -> None:
    first_api, second_api = net.apis
    payments = PaymentSettings(stripe=dataclasses.replace(STRIPE, api_base=stripe_proxy.url), default_provider="stripe")
    # The test plays the driver app's backend: a process of its own on the bus.
    bus = create_bus(net.nats.url, node_id="driver-app")
    await bus.start()
    try:
        email = f"driver-{uuid.uuid4().hex[:8]}@many.test"
        async with net.maker() as db:
            driver = await UserService(db).create_user(email, PASSWORD_OF_DRIVER, "driver")
            operator = Operator(name="Paid operator", country_code="SE", party_id="MPP")
            db.add(operator)
            await db.flush()
            location = Location(operator_id=operator.id, name="Paid site", time_zone="Europe/Stockholm")
            db.add(location)
            await db.commit()
            identity = f"PAID-{uuid.uuid4().hex[:8]}"
            cp = await ChargerService(db, bus).register(identity, PASSWORD, location_id=location.id, evse_count=1)
            evse_id = await db.scalar(select(Evse.id).where(Evse.charge_point_id == cp.id))
            assert evse_id is not None
            tariffs = TariffService(db, bus)
            # A 50 SEK hold: the first long sample (22 kWh at 3 SEK) passes it.
            tariff = await tariffs.create(
                msgspec.structs.replace(TERMS, hold_amount_minor=5_000), operator_id=operator.id
            )
            await tariffs.assign("location", location.id, tariff.id)
        login = {"email": email, "password": PASSWORD_OF_DRIVER}
        token = (await net.http.post(f"{second_api.url}/api/v1/auth/token", json=login)).json()
        driver_headers = {"Authorization": f"Bearer {token['accessToken']}"}
        # On the first bridge; its clock now, so the session's minutes are the real ones.
        config = SimConfig(url=net.ocpp_url(net.bridges[0]), identity=identity, password=PASSWORD)
        charger = SimulatedCharger(config, clock=ticking_clock(datetime.now(UTC)))
        await charger.connect()
        await charger.boot()
        await charger.status(1, "Available")
        await net.registered(charger.identity)

        providers = Providers(payments)
        card = await saved_visa(providers, payments)
        async with net.maker() as db:
            payment = await PaidSessionService(db, bus, providers, Settings(payments=payments)).start(
                evse_id, user_id=driver.id, saved_card=card
            )
            # The walk-up payer's view of it: a checkout link, read on the first API.
            link_token = secrets.token_urlsafe(16)
            db.add(CheckoutLink(payment_id=payment.id, token_hash=digest_secret(link_token), lang="en"))
            await db.commit()
        assert payment.status == "authorised"
        checkout_status = f"{first_api.url}/c/s/{link_token}/status.json"

        # The driver's live stream on the second API, while the first bridge's charger runs.
        feed = f"{second_api.url}/api/v1/sessions/{payment.id}/events"
        async with net.http.stream("GET", feed, headers=driver_headers, timeout=60) as events:
            assert events.status_code == 200
            messages = sse_messages(events)
            charging = await next_message(messages, lambda m: session_status(m) == "charging")
            tx_id = charging["session"]["transactionId"]
            assert (await net.http.get(checkout_status)).json()["state"] == "charging"
            # One long sample passes the hold: a worker (each watches every paid session on
            # the bus's fan-out) claims the stop, sends it to the first bridge and says so.
            await charger.send_meter_values(seconds=7200)
            # The charger stops (the remote stop), the session ends and its payment settles.
            done = await next_message(messages, lambda m: session_status(m) == "finished" and is_settled(m))
        seen = messages.seen
        # The sample, as the bridge stored it; the hold reached, said once (its event is the
        # worker's, so it may come before or after the sample's).
        assert any(session_energy(m) >= 22_000 and m["session"]["transactionId"] == tx_id for m in seen), seen
        limits = [m for m in seen if m["type"] == "hold_limit_reached"]
        assert len(limits) == 1 and limits[0]["holdMinor"] == 5_000 and limits[0]["costMinor"] >= 5_000, limits
        assert done["session"]["stopReason"] == "Remote"
        assert [action for action, _ in charger.received].count("RemoteStopTransaction") == 1
        await charger.close()

        async with net.maker() as db:
            paid = await db.get(Payment, payment.id)
            assert paid is not None and paid.transaction_id is not None
            priced = await db.get(Transaction, paid.transaction_id)
            transitions = list(
                await db.scalars(select(PaymentTransition.to_status).where(PaymentTransition.payment_id == payment.id))
            )
        assert paid.status == "captured" and priced is not None and priced.cost_minor is not None
        # Never more than the hold; captured once by one of the two payment workers.
        assert paid.captured_minor == min(priced.cost_minor, paid.hold_minor) == 5_000
        assert transitions.count("capturing") == 1 and transitions.count("captured") == 1, transitions
        assert stripe_proxy.upstream_count("POST", f"/v1/payment_intents/{paid.provider_ref}/capture") == 1
        shown = (await net.http.get(checkout_status)).json()
        assert (shown["state"], shown["capturedMinor"]) == ("finished", 5_000), shown
    finally:
        await bus.close()


class SseMessages:
    """The ``data:`` messages of a server-sent event stream, each kept in ``seen``."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.seen: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        async for line in self.lines:
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line[5:].strip())
                self.seen.append(message)
                return message
        raise AssertionError(f"the stream ended after {self.seen}")


def sse_messages(response: httpx.Response) -> SseMessages:
    return SseMessages(response)


async def next_message(messages: SseMessages, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            message = await messages.next()
            if match(message):
                return message


def session_status(message: dict[str, Any]) -> str | None:
    return message["session"]["status"] if message["type"] == "session" else None


def session_energy(message: dict[str, Any]) -> float:
    return float(message["session"]["energyWh"]) if message["type"] == "session" else 0.0


def is_settled(message: dict[str, Any]) -> bool:
    payment = message["session"]["payment"]
    return payment is not None and payment["status"] == "captured"


async def saved_visa(providers: Providers, payments: PaymentSettings) -> SavedCard:
    """What the driver's phone does with Stripe.js: a card saved at Stripe."""
    provider = providers.get("stripe")
    setup = await provider.setup_saved_method(
        f"user-{uuid.uuid4().hex[:6]}", "driver@example.test", None, idempotency_key=uuid.uuid4().hex
    )
    assert setup.client_secret is not None and payments.stripe is not None
    client = stripe_client(payments.stripe)
    setup_intent_id = setup.client_secret.split("_secret_")[0]
    await asyncio.to_thread(client.v1.setup_intents.confirm, setup_intent_id, {"payment_method": "pm_card_visa"})
    [method] = await provider.saved_methods(setup.customer_ref)
    return SavedCard(customer_ref=setup.customer_ref, payment_method_ref=method.ref)


# -- fault detection: the leader killed, the other takes over ---------------------------------


async def incidents_of(net: Network, identity: str) -> list[Incident]:
    async with net.maker() as db:
        return list(await db.scalars(select(Incident).where(Incident.identity == identity)))


async def test_the_health_leader_killed_the_other_worker_opens_the_next_incident_once(net: Network) -> None:
    leader = await net.leader("health")
    [standby] = [w for w in net.workers if w is not leader]
    chargers = [await charger_on(net, net.bridges[0], "1.6"), await charger_on(net, net.bridges[1], "2.0.1")]
    before, after = chargers
    try:
        for charger in chargers:
            await charger.status(1, "Available")
        await before.fault(1, "InternalError", "watchdog")
        await eventually(lambda: incidents_of(net, before.identity), "the leader opens the first incident")

        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGKILL)
        await leader.proc.wait()
        # After the kill: only the standby can open it, once it has taken the lead over.
        await after.fault(1, "InternalError", "watchdog")
        await eventually(lambda: incidents_of(net, after.identity), "the standby opens the next incident")
        assert await net.leader("health") is standby
        # Everything published so far handled: nothing more can open from it.
        await net.consumer_settled(consumer_name("health", "*"))
        for charger in chargers:
            found = await incidents_of(net, charger.identity)
            # One each (the first not opened again by the new leader), and no offline one: the
            # chargers kept heartbeating through the takeover, longer than the offline threshold.
            assert [i.kind for i in found] == ["reported_error"], (charger.identity, [(i.kind, i.state) for i in found])
    finally:
        for charger in chargers:
            await charger.close()
