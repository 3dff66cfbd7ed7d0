"""The web checkout in a real browser (Debian's Chromium via Playwright) against the running
server: price, pay in the (localstripe) Payment Element, live progress, stop, receipt.

The Stripe webhook that authorises the hold is signed and posted by the Stripe proxy, the
remote start reaches a simulator charger over a real socket, and the capture goes back
through the proxy to localstripe. No mocks of our code.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import httpx
import stripe
from playwright.async_api import Browser, expect

from app.checkout.i18n import negotiate
from app.tariffs.pricing import format_minor
from devtools.fakes.adyen.server import AdyenFake
from tests.e2e.checkout.conftest import Site, Stack, screenshot_on_failure
from tests.e2e.payments.conftest import STRIPE_SECRET_KEY

DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "checkout.png"
TOKEN_URL = re.compile(r"/c/s/[A-Za-z0-9_-]{43}(\?.*)?$")


async def _wait_for(probe, what: str, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.1)
    raise AssertionError(what)  # pragma: no cover


async def _open_link(stack: Stack, evse_id: str, http: httpx.AsyncClient, **form: str) -> str:
    """What the pay button does, over plain HTTP: the secret link's path."""
    page = await http.get(f"/c/{evse_id}")
    assert page.status_code == 200, page.text
    csrf = http.cookies.get("laddnat_checkout")
    assert csrf
    answer = await http.post(f"/c/{evse_id}/pay", data={"csrf": csrf, "consent": "on", **form})
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert TOKEN_URL.search(location)
    return location


async def test_pay_watch_progress_stop_and_see_the_receipt(stack: Stack, browser: Browser) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    context = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    try:
        async with screenshot_on_failure(page, "pay-progress-stop-receipt"):
            await page.goto(f"{stack.base_url}/C/{site.evse_id.upper()}")  # the QR code's URL
            await expect(page.get_by_test_id("price")).to_contain_text("3.00 SEK per kWh")
            await expect(page.get_by_test_id("price")).to_contain_text("0.10 SEK per minute while charging")
            await expect(page.get_by_test_id("price")).to_contain_text("5.00 SEK per session")
            await expect(page.get_by_test_id("price")).to_contain_text("Idle fee 1.00 SEK per minute")
            await expect(page.get_by_text("All prices include 25% VAT.")).to_be_visible()
            await expect(page.get_by_test_id("hold")).to_contain_text("300.00 SEK is reserved on your card")
            await expect(page.get_by_test_id("hold")).to_contain_text("Only the real cost of the session is charged")
            await expect(page.get_by_test_id("charger-status")).to_have_text("Available")
            DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
            await page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)

            await page.get_by_label("E-mail for the receipt").fill("walkup@example.test")
            await page.get_by_label("I accept the price above").check()
            await page.get_by_test_id("continue").click()
            await page.wait_for_url(TOKEN_URL)
            link = page.url

            # localstripe's card inputs, inside the element's container.
            element = page.get_by_test_id("payment-element")
            await element.locator("input[placeholder=number]").fill("4242424242424242")
            await element.locator("input[placeholder=exp_month]").fill("12")
            await element.locator("input[placeholder=exp_year]").fill("34")
            await element.locator("input[placeholder=cvc]").fill("123")
            await element.locator("input[placeholder=postal_code]").fill("11122")
            await page.get_by_test_id("pay").click()

            # Stripe.js returns to our page; the webhook authorises; the charger starts.
            await page.wait_for_url(re.compile(r"redirect_status=succeeded"))
            await expect(page.get_by_test_id("state")).to_have_text("Charging", timeout=30_000)
            payment = await stack.payment_of(site)
            assert payment is not None and payment.status == "authorised"
            assert payment.payer_email == "walkup@example.test"

            for _ in range(3):
                await sim.send_meter_values(seconds=600)  # 10 minutes at 11 kW each
            await expect(page.get_by_test_id("energy")).not_to_have_text(re.compile(r"^0\.00 kWh$"), timeout=10_000)
            await expect(page.get_by_test_id("power")).to_have_text(re.compile(r"kW$"))
            await expect(page.get_by_test_id("cost")).to_have_text(re.compile(r"^[1-9]\d*\.\d\d SEK$"))

            # The stop button, by keyboard.
            await page.get_by_test_id("stop").focus()
            await page.keyboard.press("Enter")
            await expect(page.get_by_test_id("captured")).to_be_visible(timeout=30_000)
            await expect(page.get_by_test_id("state")).to_have_text("Finished")
            payment = await stack.payment_of(site)
            assert payment is not None and payment.status == "captured"
            assert 0 < payment.captured_minor < payment.hold_minor
            captured = format_minor(payment.captured_minor, "SEK")
            await expect(page.get_by_test_id("captured")).to_have_text(captured)

            await page.get_by_test_id("receipt-link").click()
            await expect(page.locator("h1")).to_have_text("Receipt")
            await expect(page.locator("body")).to_contain_text(captured)
            await expect(page.locator("body")).to_contain_text(site.evse_id)

        # The secret link, opened again in another browser, is the same session.
        other = await browser.new_context(locale="en-GB")
        again = await other.new_page()
        async with screenshot_on_failure(again, "reopen-link"):
            await again.goto(link.split("?")[0])
            await expect(again.get_by_test_id("state")).to_have_text("Finished")
            await expect(again.get_by_test_id("captured")).to_have_text(captured)
        await other.close()
    finally:
        await context.close()
        await sim.close()


async def test_swedish_page_from_the_browser_language(stack: Stack, browser: Browser) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    context = await browser.new_context(locale="sv-SE")
    page = await context.new_page()
    try:
        async with screenshot_on_failure(page, "swedish"):
            await page.goto(f"{stack.base_url}/c/{site.evse_id}")
            await expect(page.locator("html")).to_have_attribute("lang", "sv")
            await expect(page.get_by_test_id("price")).to_contain_text("3,00 SEK per kWh")
            await expect(page.get_by_test_id("hold")).to_contain_text("300,00 SEK reserveras på ditt kort")
            await expect(page.get_by_text("Alla priser inklusive 25 % moms.")).to_be_visible()
            await expect(page.get_by_test_id("charger-status")).to_have_text("Ledig")
            await expect(page.get_by_test_id("continue")).to_have_text("Fortsätt till betalning")
            # ?lang= wins over the browser's language.
            await page.goto(f"{stack.base_url}/c/{site.evse_id}?lang=en")
            await expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        await context.close()
        await sim.close()


async def test_faulted_or_offline_charger_says_so_and_takes_no_payment(stack: Stack, browser: Browser) -> None:
    offline = await stack.site()  # never connected
    faulted = await stack.site()
    sim = await stack.charger(faulted)
    await sim.fault(1, "GroundFailure")
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    try:
        async with screenshot_on_failure(page, "unavailable"):
            await page.goto(f"{stack.base_url}/c/{offline.evse_id}")
            await expect(page.get_by_test_id("unavailable")).to_contain_text("offline")
            await expect(page.get_by_test_id("continue")).to_have_count(0)
            await expect(page.get_by_test_id("charger-status")).to_have_text("Offline")

            await page.goto(f"{stack.base_url}/c/{faulted.evse_id}")
            await expect(page.get_by_test_id("unavailable")).to_contain_text("out of order (GroundFailure)")
            await expect(page.get_by_test_id("unavailable")).to_contain_text("No payment is taken")
            await expect(page.get_by_test_id("continue")).to_have_count(0)
            await expect(page.get_by_test_id("price")).to_be_visible()  # the price is still shown
    finally:
        await context.close()
    # Posting the form anyway (an old tab) opens no payment either.
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        await http.get(f"/c/{faulted.evse_id}")
        csrf = http.cookies.get("laddnat_checkout")
        refused = await http.post(f"/c/{faulted.evse_id}/pay", data={"csrf": csrf or "", "consent": "on"})
        assert refused.status_code == 409
    assert await stack.payment_of(faulted) is None
    assert await stack.payment_of(offline) is None
    await sim.close()


async def test_a_charger_with_a_critical_incident_is_out_of_order_in_plain_words(stack: Stack) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    try:
        await sim.overheat(1, to_celsius=90.0, steps=3)  # its status stays Available
        async with httpx.AsyncClient(base_url=stack.base_url, headers={"Accept-Language": "sv"}) as http:

            async def unhealthy() -> str | None:
                page = (await http.get(f"/c/{site.evse_id}")).text
                return page if 'data-testid="unavailable"' in page else None

            page = await _wait_for(unhealthy, "the incident takes the charger off sale")
            assert "Laddaren är ur funktion: Laddaren är för varm." in page
            csrf = http.cookies.get("laddnat_checkout")
            refused = await http.post(f"/c/{site.evse_id}/pay", data={"csrf": csrf or "", "consent": "on"})
            assert refused.status_code == 409
        assert await stack.payment_of(site) is None
    finally:
        await sim.close()


async def test_secret_link_reopens_and_a_wrong_link_is_404(stack: Stack) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as payer:
            link = await _open_link(stack, site.evse_id, payer)
        async with httpx.AsyncClient(base_url=stack.base_url) as later:  # no cookies: the link alone
            page = await later.get(link)
            assert page.status_code == 200
            assert 'data-state="pay"' in page.text and "data-client-secret=" in page.text
            assert page.headers["cache-control"] == "no-store"
            assert page.headers["referrer-policy"] == "same-origin"
            csp = page.headers["content-security-policy"]
            assert f"script-src 'self' {stack.proxy.url}" in csp and "frame-ancestors 'none'" in csp
            status = await later.get(f"{link}/status.json")
            assert status.status_code == 200 and status.json()["state"] == "pay"
            assert status.json()["holdMinor"] == 30_000
            wrong = "/c/s/" + "A" * 43
            for path in (wrong, f"{wrong}/status.json", f"{wrong}/receipt", link[:-1] + "x"):
                assert (await later.get(path)).status_code == 404, path
            missing = await later.get("/c/SE*NOPE*E1*1")
            assert missing.status_code == 404 and "Page not found" in missing.text
            no_receipt = await later.get(f"{link}/receipt")
            assert no_receipt.status_code == 404  # nothing captured yet
    finally:
        await sim.close()


async def test_forms_without_their_csrf_token_are_refused(stack: Stack) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as http:
            no_cookie = await http.post(f"/c/{site.evse_id}/pay", data={"consent": "on", "csrf": "guess"})
            assert no_cookie.status_code == 403
            assert await stack.payment_of(site) is None
            await http.get(f"/c/{site.evse_id}")
            csrf = http.cookies.get("laddnat_checkout") or ""
            cross_site = await http.post(
                f"/c/{site.evse_id}/pay",
                data={"consent": "on", "csrf": csrf},
                headers={"Origin": "https://evil.example"},
            )
            assert cross_site.status_code == 403
            assert await stack.payment_of(site) is None

            link = await _open_link(stack, site.evse_id, http)
            no_token = await http.post(f"{link}/stop", data={})
            assert no_token.status_code == 403
            forged = await http.post(f"{link}/stop", data={"csrf": "0" * 64})
            assert forged.status_code == 403
            page = (await http.get(link)).text
            token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
            assert token is None  # no stop form before the session runs
    finally:
        await sim.close()


async def _charging(stack: Stack, site: Site, http: httpx.AsyncClient, lang: str) -> str:
    """A web checkout paid and charging; its secret link."""
    link = await _open_link(stack, site.evse_id, http, lang=lang)
    payment = await stack.payment_of(site)
    assert payment is not None
    # The shopper pays (here with the SDK, as Stripe.js would); the webhook starts the charger.
    client = stripe.StripeClient(STRIPE_SECRET_KEY, base_addresses={"api": stack.proxy.url})
    await asyncio.to_thread(client.v1.payment_intents.confirm, payment.provider_ref, {"payment_method": "pm_card_visa"})

    async def charging() -> dict[str, object] | None:
        body = (await http.get(f"{link}/status.json")).json()
        return body if body["state"] == "charging" else None

    await _wait_for(charging, "charging")
    return link


async def test_a_fault_mid_session_shows_what_happened(stack: Stack) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as http:
            link = await _charging(stack, site, http, "sv")
            await sim.send_meter_values(seconds=600)
            page = await http.get(link)
            stop_token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
            assert stop_token is not None and 'lang="sv"' in page.text
            await sim.fault(1, "GroundFailure")

            async def faulted() -> dict[str, object] | None:
                body = (await http.get(f"{link}/status.json")).json()
                return body if body.get("fault") else None

            body = await _wait_for(faulted, "the fault is shown")
            assert "GroundFailure" in str(body["fault"]) and "bara för energin" in str(body["fault"])
            await sim.stop_transaction(1, reason="Other")

            async def finished() -> dict[str, object] | None:
                body = (await http.get(f"{link}/status.json")).json()
                return body if body["state"] == "finished" else None

            # A capture has been seen, twice in many CI runs, to take more than 30 s under load
            # (here and in test_paid_sessions' Adyen case); why is not known yet.
            done = await _wait_for(finished, "captured after the fault", timeout_s=90.0)
            assert "GroundFailure" not in str(done.get("fault")) and "Other" in str(done.get("fault"))
            payment = await stack.payment_of(site)
            assert payment is not None and done["capturedMinor"] == payment.captured_minor > 0
    finally:
        await sim.close()


async def test_an_incident_on_the_charger_mid_session_is_told_in_plain_words(stack: Stack) -> None:
    site = await stack.site()
    sim = await stack.charger(site)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as http:
            link = await _charging(stack, site, http, "sv")
            await sim.overheat(1, to_celsius=90.0, steps=3)  # still charging: no Faulted status

            async def told() -> dict[str, object] | None:
                body = (await http.get(f"{link}/status.json")).json()
                return body if body.get("fault") else None

            body = await _wait_for(told, "the overheating incident is shown")
            assert body["state"] == "charging"
            assert "för varm" in str(body["fault"]) and "bara för energin" in str(body["fault"])
            await sim.stop_transaction(1)
    finally:
        await sim.close()


async def test_adyen_page_mounts_the_drop_in(stack: Stack, adyen_fake: AdyenFake) -> None:
    site = await stack.site("ADY")
    sim = await stack.charger(site)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as http:
            link = await _open_link(stack, site.evse_id, http)
            page = await http.get(link)
        payment = await stack.payment_of(site)
        assert payment is not None and payment.provider == "adyen" and payment.session_ref
        html = page.text
        cdn = "https://checkoutshopper-test.adyen.com/checkoutshopper/sdk/"
        assert f'<script src="{cdn}' in html and "/adyen.js" in html and "/adyen.css" in html
        assert 'data-provider="adyen"' in html and f'data-session-id="{payment.session_ref}"' in html
        assert 'data-environment="test"' in html and 'id="dropin"' in html
        assert "https://checkoutshopper-test.adyen.com" in page.headers["content-security-policy"]
        assert "data-client-secret" not in html
    finally:
        await sim.close()


def test_language_from_accept_language_with_q_values() -> None:
    assert negotiate("sv-SE,sv;q=0.9,en;q=0.8") == "sv"
    assert negotiate("en-US,en;q=0.9,sv;q=0.8") == "en"
    assert negotiate("de-DE,sv;q=0.5,en;q=0.7") == "en"
    assert negotiate("de-DE,sv;q=0.7,en;q=0.5") == "sv"
    assert negotiate("sv;q=0,en;q=0.1") == "en"
    assert negotiate("fi-FI") == "en"
    assert negotiate(None) == "en"
    assert negotiate("en", "sv") == "sv" and negotiate("sv", "xx") == "sv"


_ = uuid  # (ids come from the stack)
