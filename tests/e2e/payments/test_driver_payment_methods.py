"""A driver saves a card through the API with Stripe's SDK doing the phone's part (the real
SDK against localstripe behind the quirks proxy), lists it, and removes it; nobody else
sees it. UserService.saved_card is what a session start uses."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from app.core.database import create_engine
from app.core.settings import PaymentSettings, Settings, StripeSettings
from app.drivers.models import PaymentCustomer
from app.drivers.service import UserService
from app.main import create_app
from payments.registry import Providers
from payments.service import SavedCard
from tests.e2e.drivers.conftest import sign_up_and_verify
from tests.e2e.payments.conftest import STRIPE_PUBLISHABLE_KEY
from tests.e2e.test_api import bearer, problem, running

URL = "/api/v1/me/payment-methods"
PASSWORD = "correct horse battery"


@dataclass
class Shop:
    client: httpx.AsyncClient
    app: Any
    providers: Providers
    stripe_settings: StripeSettings

    async def driver(self) -> tuple[uuid.UUID, dict[str, str]]:
        email = f"pm-{uuid.uuid4().hex[:8]}@example.se"
        pair = await sign_up_and_verify(self.client, self.app.state.sessionmaker, email, PASSWORD)
        headers = bearer(pair["accessToken"])
        me = await self.client.get("/api/v1/me", headers=headers)
        return uuid.UUID(me.json()["id"]), headers

    async def save_card(self, headers: dict[str, str], number: str | None = None) -> dict[str, Any]:
        """What the app does: ask us for the setup, confirm it in Stripe's SDK (the test
        Visa, or a card ``number`` the SDK tokenises first)."""
        r = await self.client.post(f"{URL}/setup", headers=headers)
        assert r.status_code == 200, r.text
        setup = r.json()
        assert self.stripe_settings.api_base is not None
        phone = stripe.StripeClient(
            self.stripe_settings.secret_key, base_addresses={"api": self.stripe_settings.api_base}
        )
        method = "pm_card_visa"
        if number is not None:
            card = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
            created = await asyncio.to_thread(phone.v1.payment_methods.create, {"type": "card", "card": card})
            method = created.id
        intent_id = setup["clientSecret"].split("_secret_")[0]
        await asyncio.to_thread(phone.v1.setup_intents.confirm, intent_id, {"payment_method": method})
        return setup  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def shop(settings: Settings, stripe_settings: StripeSettings) -> AsyncIterator[Shop]:
    settings = dataclasses.replace(settings, payments=PaymentSettings(stripe=stripe_settings))
    engine = create_engine(settings.db)
    providers = Providers(settings.payments)
    app = create_app(settings, engine=engine, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Shop(client, app, providers, stripe_settings)
    await engine.dispose()


async def test_a_saved_card_is_listed_for_its_owner_only(shop: Shop) -> None:
    alice_id, alice = await shop.driver()
    bob_id, bob = await shop.driver()
    assert (await shop.client.get(URL, headers=alice)).json() == {"provider": "stripe", "items": []}

    setup = await shop.save_card(alice)
    # What Stripe's SDK needs, and nothing of ours.
    assert set(setup) == {"provider", "clientSecret", "publishableKey"}
    assert (setup["provider"], setup["publishableKey"]) == ("stripe", STRIPE_PUBLISHABLE_KEY)

    r = await shop.client.get(URL, headers=alice)
    assert r.status_code == 200, r.text
    [card] = r.json()["items"]
    assert (card["brand"], card["last4"]) == ("visa", "4242")
    assert card["id"].startswith("pm_") and card["expiry"]

    # Bob sees none of it, and cannot remove it or charge it.
    assert (await shop.client.get(URL, headers=bob)).json()["items"] == []
    problem(await shop.client.delete(f"{URL}/{card['id']}", headers=bob), 404, "payment_method.not_found")
    async with shop.app.state.sessionmaker() as db:
        users = UserService(db, providers=shop.providers)
        assert await users.saved_card(bob_id, card["id"]) is None
        saved = await users.saved_card(alice_id, card["id"])
        assert isinstance(saved, SavedCard) and saved.payment_method_ref == card["id"]
        assert saved.customer_ref.startswith("cus_")
        assert await users.saved_card(alice_id, "pm_not_hers") is None
    assert [c["id"] for c in (await shop.client.get(URL, headers=alice)).json()["items"]] == [card["id"]]


async def test_a_second_card_goes_to_the_same_customer_and_removing_one_keeps_the_other(shop: Shop) -> None:
    alice_id, alice = await shop.driver()
    await shop.save_card(alice)
    await shop.save_card(alice, "5555555555554444")
    cards = (await shop.client.get(URL, headers=alice)).json()["items"]
    # (localstripe calls every card a Visa; the last four tell them apart.)
    assert sorted(c["last4"] for c in cards) == ["4242", "4444"]
    visa = next(c for c in cards if c["last4"] == "4242")

    r = await shop.client.delete(f"{URL}/{visa['id']}", headers=alice)
    assert r.status_code == 204, r.text
    assert [c["last4"] for c in (await shop.client.get(URL, headers=alice)).json()["items"]] == ["4444"]
    problem(await shop.client.delete(f"{URL}/{visa['id']}", headers=alice), 404, "payment_method.not_found")
    async with shop.app.state.sessionmaker() as db:
        assert await UserService(db, providers=shop.providers).saved_card(alice_id, visa["id"]) is None
        customers = (await db.scalars(select(PaymentCustomer).where(PaymentCustomer.user_id == alice_id))).all()
    assert [c.provider for c in customers] == ["stripe"]


async def test_a_retried_setup_with_the_same_idempotency_key_gets_the_same_intent(shop: Shop) -> None:
    _, alice = await shop.driver()
    await shop.save_card(alice)  # the customer exists from now on
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await shop.client.post(f"{URL}/setup", headers={**alice, **key})
    again = await shop.client.post(f"{URL}/setup", headers={**alice, **key})
    other = await shop.client.post(f"{URL}/setup", headers=alice)
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["clientSecret"] == again.json()["clientSecret"] != other.json()["clientSecret"]


async def test_payment_methods_need_a_signed_in_caller(shop: Shop) -> None:
    problem(await shop.client.get(URL), 401, "auth.unauthenticated")
    problem(await shop.client.post(f"{URL}/setup"), 401, "auth.unauthenticated")
    problem(await shop.client.delete(f"{URL}/pm_123"), 401, "auth.unauthenticated")


async def test_without_a_payment_provider_it_is_503(settings: Settings) -> None:
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine, providers=Providers(PaymentSettings()))
    transport = httpx.ASGITransport(app=app)
    try:
        async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            email = f"pm-{uuid.uuid4().hex[:8]}@example.se"
            pair = await sign_up_and_verify(client, app.state.sessionmaker, email, PASSWORD)
            headers = bearer(pair["accessToken"])
            problem(await client.post(f"{URL}/setup", headers=headers), 409, "payment.not_configured")
            problem(await client.get(URL, headers=headers), 409, "payment.not_configured")
            problem(await client.delete(f"{URL}/pm_123", headers=headers), 409, "payment.not_configured")
    finally:
        await engine.dispose()
