"""Two payment workers over the same payments (two `laddnat worker --payments` processes on one
database): their sweeps and the settling of the ended sessions run at once, and each paid
session is captured once, for exactly its price, with one capture at Stripe.

The sessions are real (simulator chargers, saved cards at localstripe behind the quirks
proxy); nothing settles them until the two copies run: no API, no worker of the rig's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.billing.worker import PaymentWorker
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import PaymentSettings, Settings, StripeSettings
from app.sessions.models import Transaction
from devtools.fakes.stripe.proxy import StripeQuirksProxy
from ocpp_bridge.server import create_bridge
from payments.registry import Providers
from tests.e2e.payments.paid_stack import Site, Stack, eventually, in_status, saved_visa, started

# Several worker processes share a PostgreSQL database (its row locks serialise the two
# copies' finishing of one claim); SQLite is the one-process default and has no row locks.
pytestmark = pytest.mark.skipif(
    not (os.environ.get("LADDNAT_TEST_DATABASE_URL") or "").startswith("postgresql"),
    reason="several worker processes need PostgreSQL",
)

COPIES = 2
ROUNDS = 3  # sweeps per copy, all at once
SESSIONS = 3


@pytest.fixture(scope="module")
async def rig(settings: Settings, stripe_settings: StripeSettings) -> AsyncIterator[Stack]:
    """The bridge and Stripe, and no payment worker: the payments wait for the two copies."""
    settings = dataclasses.replace(
        settings,
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=10.0),
        payments=PaymentSettings(stripe=stripe_settings, default_provider="stripe"),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    bridge = create_bridge(settings.ocpp, maker, bus)
    await bridge.start()
    providers = Providers(settings.payments)
    none: Any = None  # the rig has no API, worker or mail of its own
    yield Stack(settings, maker, bus, bridge, providers, 0, none, none, none)
    await bridge.close()
    await bus.close()
    await engine.dispose()


async def ended_paid_session(rig: Stack, site: Site, stripe_settings: StripeSettings) -> tuple[Any, Transaction]:
    """A saved-card session that charged for 20 minutes and ended; its payment still held."""
    sim = await rig.charger(site)
    try:
        payment = await rig.start(site, saved_card=await saved_visa(rig, stripe_settings))
        assert payment.status == "authorised"
        linked = await started(rig, payment.id, sim, "the charger starts a transaction")
        for _ in range(2):
            await sim.send_meter_values(seconds=600)
        await rig.stop(linked)

        async def completed() -> Transaction | None:
            tx = await rig.transaction(linked.id)
            return tx if tx.status == "completed" else None

        tx = await eventually(completed, "the transaction ends")
    finally:
        await sim.close()
    return payment, tx


async def test_two_payment_workers_capture_each_session_once(
    rig: Stack, stripe_settings: StripeSettings, stripe_proxy: StripeQuirksProxy
) -> None:
    sites = [await rig.site("CPY") for _ in range(SESSIONS)]  # one after another: they share the operator
    sessions = await asyncio.gather(*(ended_paid_session(rig, site, stripe_settings) for site in sites))
    for payment, _ in sessions:
        assert (await rig.payment(payment.id)).status == "authorised"  # nobody has settled it yet

    engines = [create_engine(rig.settings.db) for _ in range(COPIES)]
    try:
        workers = [
            PaymentWorker(create_sessionmaker(engine), rig.bus, Providers(rig.settings.payments), rig.settings)
            for engine in engines
        ]
        # The event path (a TransactionEnded each copy heard) and the sweeper, all at once.
        await asyncio.gather(
            *(worker.settle_transaction(tx.id) for worker in workers for _, tx in sessions),
            *(worker.sweep() for worker in workers for _ in range(ROUNDS)),
        )
        # A capture left half-done by a race would be finished by a later sweep: run one more of each.
        await asyncio.gather(*(worker.sweep() for worker in workers))
    finally:
        for engine in engines:
            await engine.dispose()

    for payment, tx in sessions:
        captured = await in_status(rig, payment.id, "captured")
        assert captured is not None, (await rig.payment(payment.id)).status
        priced = await rig.transaction(tx.id)
        assert 0 < captured.captured_minor == priced.cost_minor < captured.hold_minor
        assert await rig.transitions(payment.id, "capturing") == 1
        assert await rig.transitions(payment.id, "captured") == 1
        assert stripe_proxy.upstream_count("POST", f"/v1/payment_intents/{captured.provider_ref}/capture") == 1
