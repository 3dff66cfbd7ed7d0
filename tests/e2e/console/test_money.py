"""The Money pages: a real paid session (localstripe behind the quirks proxy, the paid-session
helpers of tests/e2e/payments) captured on Norrsken's charger, then refunded in part by
finance in the browser; read-only sees no refund form and its forged POST is refused; the
revenue chart, its table and CSV; sessions, invoices and reconciliation; another tenant's
payment is a 404."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from app.billing.paid_sessions import PaidSessionService
from app.chargers.models import Location
from app.console.sessions import ConsoleSessions
from app.core.settings import PaymentSettings, Settings, StripeSettings
from app.drivers.models import User
from app.sessions.commands import CommandService
from app.sessions.models import Transaction
from app.tariffs.service import TariffService
from devtools.fakes.stripe.proxy import StripeQuirksProxy
from payments.models import Payment
from payments.registry import Providers
from tests.e2e.console.conftest import OTHER_ADMIN, Stack, assert_accessible, email_of, screenshot, sign_in
from tests.e2e.payments import paid_stack
from tests.e2e.payments.conftest import (  # noqa: F401 (fixtures: localstripe behind the quirks proxy)
    STRIPE_WEBHOOK_SECRET,
    localstripe_url,
    stripe_api_base,
    stripe_proxy,
    stripe_settings,
)
from tests.e2e.payments.paid_stack import TERMS, reached_status, saved_visa, started

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def settings(settings: Settings, stripe_settings: StripeSettings) -> Settings:  # noqa: F811
    """The console's stack with Stripe (localstripe) as every operator's PSP."""
    return dataclasses.replace(
        settings, payments=PaymentSettings(stripe=stripe_settings, default_provider="stripe", sweep_interval_s=1.0)
    )


@dataclass
class Payments:
    """What the paid-session helpers (saved_visa, in_status, linked_transaction) read."""

    maker: Any
    providers: Providers

    async def payment(self, payment_id: uuid.UUID) -> Payment:
        async with self.maker() as db:
            payment = await db.get(Payment, payment_id)
            assert payment is not None
            return cast(Payment, payment)

    async def transaction(self, transaction_id: uuid.UUID) -> Transaction:
        async with self.maker() as db:
            tx = await db.get(Transaction, transaction_id)
            assert tx is not None
            return cast(Transaction, tx)


@pytest.fixture(scope="module")
async def captured(
    stack: Stack,
    stripe_settings: StripeSettings,  # noqa: F811
    stripe_proxy: StripeQuirksProxy,  # noqa: F811
) -> AsyncIterator[Payment]:
    """A saved-card session on Norrsken's Hamngatan charger, 20 minutes at 11 kW, captured."""
    stripe_proxy.register_webhook(f"{stack.base_url}/webhooks/stripe", STRIPE_WEBHOOK_SECRET)
    charger = stack.world.chargers[0]
    async with stack.maker() as db:
        location_id = await db.scalar(select(Location.id).where(Location.name == charger.location))
        assert location_id is not None
        tariffs = TariffService(db, stack.bus)
        tariff = await tariffs.create(TERMS, operator_id=stack.world.tenant_id)
        await tariffs.assign("location", location_id, tariff.id)
    helper = Payments(stack.maker, Providers(stack.settings.payments))
    paid = cast(paid_stack.Stack, helper)
    sim = await stack.charger(charger)
    try:
        card = await saved_visa(paid, stripe_settings)
        async with stack.maker() as db:
            payment = await PaidSessionService(db, stack.bus, helper.providers, stack.settings).start(
                charger.evse_pk, saved_card=card
            )
        linked = await started(paid, payment.id, sim, "the charger starts the session")
        await sim.send_meter_values(seconds=1200)
        async with stack.maker() as db:
            await CommandService(db, stack.bus, public_base_url=stack.base_url, timeout_s=10).send(
                linked.charge_point_id, "remote-stop", {"transactionId": str(linked.id)}
            )
        yield await reached_status(paid, payment.id, "captured", "the payment is captured")
    finally:
        await sim.close()


async def console_session(stack: Stack, email: str) -> tuple[dict[str, str], str]:
    """A console session opened directly (no browser): its cookie and CSRF token."""
    async with stack.maker() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None
        sessions = ConsoleSessions(db, stack.settings.console, clock=stack.clock)
        raw = await sessions.open(user)
        signed_in = await sessions.resolve(raw)
    assert signed_in is not None
    return {"laddnat_console": raw}, signed_in.csrf_token


def money_nav(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="Money sections")


async def test_finance_refunds_part_of_a_payment_and_sees_it_in_the_history(
    page: Page, stack: Stack, captured: Payment
) -> None:
    await sign_in(page, "finance")
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Money").click()
    row = page.locator(f"tr[data-payment='{captured.id}']")
    await expect(row.locator("[data-status]")).to_have_attribute("data-status", "captured")
    await assert_accessible(page)
    await screenshot(page, "money-payments")

    await row.get_by_role("link").click()
    await expect(page.locator("[data-field=status]")).to_have_text("captured")
    await expect(page.get_by_role("link", name="Receipt (PDF)")).to_be_visible()
    receipt = await page.request.get(f"/console/money/payments/{captured.id}/receipt.pdf")
    assert receipt.status == 200 and (await receipt.body()).startswith(b"%PDF")
    await assert_accessible(page)

    # Bad input: said next to the field, nothing changes.
    await page.get_by_label("Amount to refund (SEK)").fill("12,345")
    await page.get_by_role("button", name="Review the refund").click()
    await expect(page.locator("#refund-amount-error")).to_have_text("Write an amount such as 12.50.")
    await expect(page.get_by_label("Amount to refund (SEK)")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)
    await expect(page.locator("#refund-table")).to_have_count(0)

    await page.get_by_label("Amount to refund (SEK)").fill("2.50")
    await page.get_by_label("Reason (shown on the credit note)").fill("Slow charging")
    await page.get_by_role("button", name="Review the refund").click()
    await expect(page.get_by_role("heading", name="Confirm the refund")).to_be_visible()
    await assert_accessible(page)
    await page.get_by_role("button", name="Refund 2.50 SEK").click()

    await expect(page.locator("#refund-done")).to_have_text("Refund 1 of 2.50 SEK: succeeded.")
    await expect(page.locator("[data-field=status]")).to_have_text("partly refunded")
    await expect(page.locator("[data-field=refunded]")).to_have_text("2.50 SEK")
    refund_row = page.locator("#refund-table tr[data-refund='1']")
    await expect(refund_row).to_contain_text("Slow charging")
    await expect(page.locator("#history-table tr[data-to=partially_refunded]")).to_contain_text("2.50 SEK")
    note = refund_row.get_by_role("link", name=re.compile("Credit note 1"))
    note_page = await page.request.get(str(await note.get_attribute("href")))
    assert note_page.status == 200 and "text/html" in note_page.headers["content-type"]
    await assert_accessible(page)
    await screenshot(page, "money-payment")

    # The session it paid for, the (empty) invoices, a reconciliation with Stripe.
    await money_nav(page).get_by_role("link", name="Sessions").click()
    await expect(page.locator("#session-table")).to_contain_text("partly refunded")
    await assert_accessible(page)
    await money_nav(page).get_by_role("link", name="Invoices").click()
    await expect(page.locator("#invoice-table")).to_contain_text("Nothing here yet.")
    await assert_accessible(page)
    await money_nav(page).get_by_role("link", name="Reconciliation").click()
    await page.get_by_role("button", name="Reconcile").click()
    await expect(page.locator("#reconcile-result")).to_contain_text("Matched entries")
    await assert_accessible(page)


async def test_read_only_sees_no_refund_form_and_a_forged_post_is_refused(
    page: Page, stack: Stack, captured: Payment
) -> None:
    await sign_in(page, "read_only")
    await page.goto(f"/console/money/payments/{captured.id}")
    await expect(page.locator("#refund-not-offered")).to_be_visible()
    await expect(page.locator("#refund-form")).to_have_count(0)
    # The page's own token, the page's own origin: only the role is wrong.
    token = await page.locator("form.sign-out input[name=csrf_token]").get_attribute("value")
    forged = await page.request.post(
        f"/console/money/payments/{captured.id}/refunds",
        form={"csrf_token": str(token), "amount": "1.00", "confirm": "yes"},
        headers={"origin": stack.base_url},
    )
    assert forged.status == 403
    before = (await page.locator("[data-field=refunded]").text_content()) or ""
    await page.reload()
    await expect(page.locator("[data-field=refunded]")).to_have_text(before)

    # Revenue: the chart (drawn), its table and the CSV, for every staff role.
    await money_nav(page).get_by_role("link", name="Revenue").click()
    await expect(page.locator("#revenue-chart")).to_have_attribute("data-drawn", "true")
    await expect(page.locator("#revenue-chart canvas")).to_have_count(1)
    charger = stack.world.chargers[0]
    await expect(page.locator("#revenue-table")).to_contain_text(charger.location)
    csv_link = page.get_by_role("link", name="Download as CSV")
    csv = await page.request.get(str(await csv_link.get_attribute("href")))
    assert csv.status == 200 and "text/csv" in csv.headers["content-type"]
    assert charger.location in await csv.text()
    await expect(page.locator("#reconcile-form")).to_have_count(0)
    await assert_accessible(page)
    await screenshot(page, "money-revenue")
    await money_nav(page).get_by_role("link", name="Reconciliation").click()
    await expect(page.locator("#reconcile-not-offered")).to_be_visible()
    await expect(page.locator("#reconcile-form")).to_have_count(0)


async def test_roles_csrf_and_tenants_over_http(stack: Stack, captured: Payment) -> None:
    refund = f"/console/money/payments/{captured.id}/refunds"
    html = {"accept": "text/html"}
    payments = Payments(stack.maker, Providers(stack.settings.payments))
    refunded = (await payments.payment(captured.id)).refunded_minor
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        http.cookies, token = await console_session(stack, email_of("operations"))
        refused = await http.post(refund, data={"csrf_token": token, "confirm": "yes"})
        assert refused.status_code == 403
        reconcile = await http.post(
            "/console/money/reconciliation",
            data={"csrf_token": token, "provider": "stripe", "from": "2026-01-01", "to": "2026-01-02"},
        )
        assert reconcile.status_code == 403

        http.cookies, token = await console_session(stack, email_of("finance"))
        no_token = await http.post(refund, data={"confirm": "yes"})
        assert no_token.status_code == 403 and no_token.json()["code"] == "console.csrf_failed"
        # Too much: the service's limit, next to the field, before any confirmation.
        too_much = await http.post(refund, data={"csrf_token": token, "amount": "100000"}, headers=html)
        assert too_much.status_code == 422 and 'id="refund-amount-error"' in too_much.text
        bad_day = await http.get("/console/money/revenue?from=2026-13-01", headers=html)
        assert bad_day.status_code == 422 and 'id="range-from-error"' in bad_day.text

        http.cookies, token = await console_session(stack, OTHER_ADMIN)
        for path in (
            f"/console/money/payments/{captured.id}",
            f"/console/money/payments/{captured.id}/receipt.html",
            f"/console/money/payments/{captured.id}/refunds/1/credit-note.pdf",
        ):
            missing = await http.get(path, headers=html)
            assert missing.status_code == 404, path
        foreign = await http.post(refund, data={"csrf_token": token, "amount": "1", "confirm": "yes"}, headers=html)
        assert foreign.status_code == 404
        listing = await http.get("/console/money", headers=html)
        assert listing.status_code == 200 and str(captured.id) not in listing.text
    assert (await payments.payment(captured.id)).refunded_minor == refunded  # none of that refunded anything
