"""The demo's fake card form takes the expiry date the way people type it.

The banner of ``make run`` invites "any future date": a four-digit year (12/2030), with or
without spaces, must pay like 12/34 does, and a date that cannot be used must say what is
wrong instead of localstripe's bare "Bad request". Checked in a real browser on the checkout
page, and at the proxy over plain HTTP the way Stripe.js calls it.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from devtools.fakes.stripe.browser import BrowserStripeProxy
from devtools.simulator import SimulatedCharger
from tests.e2e.checkout.conftest import Stack, screenshot_on_failure
from tests.e2e.payments.conftest import STRIPE_PUBLISHABLE_KEY

TOKEN_URL = re.compile(r"/c/s/[A-Za-z0-9_-]{43}(\?.*)?$")


async def _card_form(stack: Stack, page: Page) -> SimulatedCharger:
    """Open a fresh charger's checkout and get to the card form; the charger, to close."""
    site = await stack.site()
    sim = await stack.charger(site)
    await page.goto(f"{stack.base_url}/c/{site.evse_id}")
    await expect(page.get_by_test_id("charger-status")).to_have_text("Available")
    await page.get_by_label("I accept the price above").check()
    await page.get_by_test_id("continue").click()
    await page.wait_for_url(TOKEN_URL)
    return sim


def _shot_name(exp_month: str, exp_year: str) -> str:
    return "card-expiry-" + re.sub(r"\W+", "_", f"{exp_month}-{exp_year}")


async def _type_card(page: Page, exp_month: str, exp_year: str) -> None:
    element = page.get_by_test_id("payment-element")
    await element.locator("input[placeholder=number]").fill("4242424242424242")
    await element.locator("input[placeholder=exp_month]").fill(exp_month)
    await element.locator("input[placeholder=exp_year]").fill(exp_year)
    await element.locator("input[placeholder=cvc]").fill("123")
    await element.locator("input[placeholder=postal_code]").fill("11122")
    await page.get_by_test_id("pay").click()


@pytest.mark.parametrize(
    ("exp_month", "exp_year"),
    [
        ("12", "2030"),  # four digits in the year box
        ("12 / 2030", ""),  # the whole date typed into the first box
        ("12/30", ""),
    ],
)
async def test_a_future_expiry_date_pays_however_it_is_typed(
    stack: Stack, browser: Browser, exp_month: str, exp_year: str
) -> None:
    context = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    sim: SimulatedCharger | None = None
    try:
        async with screenshot_on_failure(page, _shot_name(exp_month, exp_year)):
            sim = await _card_form(stack, page)
            await _type_card(page, exp_month, exp_year)
            await page.wait_for_url(re.compile(r"redirect_status=succeeded"))
            await expect(page.get_by_test_id("state")).to_have_text("Charging", timeout=30_000)
    finally:
        await context.close()
        if sim is not None:
            await sim.close()


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "message"),
    [
        ("01", "2020", "The expiry date 01/2020 is in the past."),
        ("13", "30", "The expiry month must be between 01 and 12."),
        ("12", "203", "type it as MM/YY or MM/YYYY"),
    ],
)
async def test_an_unusable_expiry_date_says_what_is_wrong(
    stack: Stack, browser: Browser, exp_month: str, exp_year: str, message: str
) -> None:
    context = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    sim: SimulatedCharger | None = None
    try:
        async with screenshot_on_failure(page, _shot_name(exp_month, exp_year)):
            sim = await _card_form(stack, page)
            await _type_card(page, exp_month, exp_year)
            errors = page.locator("#pay-errors")
            await expect(errors).to_be_visible()
            await expect(errors).to_contain_text(message)
            await expect(errors).not_to_contain_text("Bad request")
            assert TOKEN_URL.search(page.url) and "redirect_status" not in page.url
    finally:
        await context.close()
        if sim is not None:
            await sim.close()


async def _create_card(proxy: BrowserStripeProxy, exp_month: str, exp_year: str) -> httpx.Response:
    """POST /v1/payment_methods as Stripe.js does: the publishable key in the form."""
    async with httpx.AsyncClient(base_url=proxy.url) as http:
        return await http.post(
            "/v1/payment_methods",
            data={
                "key": STRIPE_PUBLISHABLE_KEY,
                "type": "card",
                "card[number]": "4242424242424242",
                "card[exp_month]": exp_month,
                "card[exp_year]": exp_year,
                "card[cvc]": "123",
            },
        )


@pytest.mark.parametrize("exp_year", ["2030", "30"])
async def test_the_proxy_takes_two_or_four_digit_years(browser_stripe_proxy: BrowserStripeProxy, exp_year: str) -> None:
    answer = await _create_card(browser_stripe_proxy, "12", exp_year)
    assert answer.status_code == 200, answer.text
    assert answer.json()["card"]["exp_year"] == 2030


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "code"),
    [
        ("12", "202030", "invalid_expiry_year"),  # what localstripe's own script sent for "2030"
        ("12", "2020", "invalid_expiry_year"),
        ("13", "2030", "invalid_expiry_month"),
        ("", "2030", "invalid_expiry_month"),
        ("0", "2030", "invalid_expiry_month"),
    ],
)
async def test_the_proxy_names_the_expiry_field_it_refuses(
    browser_stripe_proxy: BrowserStripeProxy, exp_month: str, exp_year: str, code: str
) -> None:
    answer = await _create_card(browser_stripe_proxy, exp_month, exp_year)
    assert answer.status_code == 402, answer.text
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("card_error", code)
    assert error["message"] == f"Your card's expiration {code.rsplit('_', 1)[1]} is invalid."
