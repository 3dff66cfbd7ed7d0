"""One network, many real processes (issue 16): two bridges, two APIs and one or two workers
as `laddnat` child processes on a test-owned nats-server and one PostgreSQL database.

Commands reach a charger whichever API asks and whichever bridge holds it; a bridge killed
with SIGKILL loses nothing (its chargers move to the other bridge, every transaction is
recorded once with its energy); NATS killed and restarted loses nothing either; a paid session
is captured once with two payment workers."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.billing.paid_sessions import PaidSessionService
from app.chargers.models import ChargePoint, Evse, Location
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus, create_bus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import DatabaseSettings, PaymentSettings, Settings, StripeSettings
from app.drivers.models import IdToken
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
HEARTBEAT = {"message": "Heartbeat"}
ENERGY = "Energy.Active.Import.Register"
SAMPLE_S = 360  # 11 kW for 6 minutes: 1100 Wh, whole in both OCPP versions' meter values


def ticking_clock() -> Clock:
    """A second later at every reading: no two messages of a charger share a timestamp."""
    seconds = itertools.count()
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    return lambda: start + timedelta(seconds=next(seconds))


class Network:
    """The processes, the operator's bearer header and the database, as the test sees them."""

    def __init__(self, http: httpx.AsyncClient, database_url: str, tmp: Path, *, workers: int = 1, **env: str) -> None:
        self.http = http
        self.nats = NatsServer(tmp / "nats")
        env = {"LADDNAT_BUS_URL": self.nats.url, **env}
        self.bridges = [process(("bridge",), database_url, f"bridge-{n}", tmp, **env) for n in (1, 2)]
        self.apis = [process(("api",), database_url, f"api-{n}", tmp, **env) for n in (1, 2)]
        work = ("worker", "--payments", "--webhooks", "--mail")
        self.workers = [process(work, database_url, f"worker-{n}", tmp, **env) for n in range(1, workers + 1)]
        self.engine = create_engine(DatabaseSettings(url=database_url))
        self.maker = create_sessionmaker(self.engine)
        # The module's tests share the database: each network has an operator and a tag of its own.
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


@asynccontextmanager
async def running_network(database_url: str, tmp: Path, *, workers: int = 1, **env: str) -> AsyncIterator[Network]:
    async with httpx.AsyncClient(timeout=15) as http:
        net = Network(http, database_url, tmp, workers=workers, **env)
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
async def network(database_url: str, tmp_path: Path) -> AsyncIterator[Network]:
    async with running_network(database_url, tmp_path) as net:
        yield net


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


async def test_commands_cross_every_api_and_bridge_and_a_killed_bridge_loses_nothing(network: Network) -> None:
    net = network
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


async def test_nats_killed_and_restarted_while_chargers_send_loses_nothing(network: Network) -> None:
    net = network
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


# -- a paid session, two payment workers -------------------------------------------------

STRIPE = StripeSettings(secret_key="sk_test_laddnat", webhook_secret="whsec_laddnat_test", publishable_key="pk_test")


@pytest.fixture(scope="module")
def stripe_proxy() -> Iterator[StripeQuirksProxy]:
    """localstripe behind the quirks proxy, which counts what reaches Stripe."""
    with running_localstripe() as server, running_proxy(server.url) as proxy:
        yield proxy


@pytest.fixture
async def paid_network(
    database_url: str, tmp_path: Path, stripe_proxy: StripeQuirksProxy
) -> AsyncIterator[tuple[Network, PaymentSettings]]:
    stripe_env = {
        "LADDNAT_STRIPE_SECRET_KEY": STRIPE.secret_key,
        "LADDNAT_STRIPE_WEBHOOK_SECRET": STRIPE.webhook_secret,
        "LADDNAT_STRIPE_API_BASE": stripe_proxy.url,
        "LADDNAT_PAYMENT_PROVIDER": "stripe",
        "LADDNAT_PAYMENT_SWEEP_INTERVAL_S": "1",
    }
    payments = PaymentSettings(stripe=dataclasses.replace(STRIPE, api_base=stripe_proxy.url), default_provider="stripe")
    async with running_network(database_url, tmp_path, workers=2, **stripe_env) as net:
        yield net, payments


async def test_a_paid_session_is_captured_once_by_two_worker_processes(
    paid_network: tuple[Network, PaymentSettings], stripe_proxy: StripeQuirksProxy
) -> None:
    net, payments = paid_network
    # The test plays the driver app's backend: a process of its own on the bus.
    bus = create_bus(net.nats.url, node_id="driver-app")
    await bus.start()
    try:
        async with net.maker() as db:
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
            tariff = await tariffs.create(TERMS, operator_id=operator.id)
            await tariffs.assign("location", location.id, tariff.id)
        config = SimConfig(url=net.ocpp_url(net.bridges[1]), identity=identity, password=PASSWORD, auto_heartbeat=False)
        charger = SimulatedCharger(config, clock=ticking_clock())
        await charger.connect()
        await charger.boot()
        await charger.status(1, "Available")

        providers = Providers(payments)
        card = await saved_visa(providers, payments)
        async with net.maker() as db:
            payment = await PaidSessionService(db, bus, providers, Settings(payments=payments)).start(
                evse_id, saved_card=card
            )
        assert payment.status == "authorised"

        async def linked() -> Transaction | None:
            async with net.maker() as db:
                held = await db.get(Payment, payment.id)
                assert held is not None
                return None if held.transaction_id is None else await db.get(Transaction, held.transaction_id)

        tx = await eventually(linked, "the charger starts")
        for _ in range(2):
            await charger.send_meter_values(seconds=600)
        await charger.stop_transaction()
        await charger.close()

        async def captured() -> Payment | None:
            async with net.maker() as db:
                settled = await db.get(Payment, payment.id)
                assert settled is not None and settled.status != "failed", settled
                return settled if settled.status == "captured" else None

        paid = await eventually(captured, "a worker captures the payment")
        async with net.maker() as db:
            priced = await db.get(Transaction, tx.id)
            transitions = list(
                await db.scalars(select(PaymentTransition.to_status).where(PaymentTransition.payment_id == payment.id))
            )
        assert priced is not None and 0 < paid.captured_minor == priced.cost_minor
        assert transitions.count("capturing") == 1 and transitions.count("captured") == 1, transitions
        assert stripe_proxy.upstream_count("POST", f"/v1/payment_intents/{paid.provider_ref}/capture") == 1
    finally:
        await bus.close()


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
