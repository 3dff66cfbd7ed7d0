"""What the README promises a newcomer: after `make run`, run the printed `serve` simulator
command, open the printed checkout URL in a browser, see the price, pay with a test card,
watch the session live, stop it and get the receipt. All against a real `laddnat run`
process (its own local fake Stripe), the real simulator process and Debian's Chromium."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.checkout.conftest import screenshot_on_failure
from tests.e2e.test_run_demo import ROOT, RunProcess, line_with

# Starts processes of its own: left out of `make test-fast` (see tests/conftest.py).
pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
async def running(database_url: str) -> AsyncIterator[RunProcess]:
    proc = RunProcess(database_url)
    for name in [k for k in proc.env if k.startswith(("LADDNAT_STRIPE_", "LADDNAT_ADYEN_"))]:
        del proc.env[name]  # no keys: `laddnat run` brings its local fake Stripe
    await proc.start()
    yield proc
    if proc.proc is not None and proc.proc.returncode is None:
        await proc.stop()


async def test_the_printed_checkout_takes_a_test_card_end_to_end(running: RunProcess, browser: Browser) -> None:
    assert "4242 4242 4242 4242" in line_with(running.banner, "local fake Stripe")
    serve = shlex.split(line_with(running.banner, "--scenario serve").strip())
    url = line_with(running.banner, "then open").split("then open", 1)[1].strip()
    charger = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *serve[1:],
        "--interval",
        "0.5",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert charger.stdout is not None
    async with asyncio.timeout(30):  # booted and Available: it says so before it waits
        while b"waiting for remote starts" not in await charger.stdout.readline():
            pass
    drain = asyncio.create_task(charger.stdout.read())
    context = await browser.new_context(locale="en-GB", viewport={"width": 390, "height": 844})
    page = await context.new_page()
    try:
        async with screenshot_on_failure(page, "make-run-demo"):
            await page.goto(url)
            await expect(page.get_by_test_id("price")).to_contain_text("3.49 SEK per kWh")
            await expect(page.get_by_test_id("hold")).to_contain_text("250.00 SEK is reserved on your card")
            await expect(page.get_by_test_id("charger-status")).to_have_text("Available")
            await page.get_by_label("I accept the price above").check()
            await page.get_by_test_id("continue").click()
            await page.wait_for_url(re.compile(r"/c/s/"))

            element = page.get_by_test_id("payment-element")
            await element.locator("input[placeholder=number]").fill("4242424242424242")
            await element.locator("input[placeholder=exp_month]").fill("12")
            await element.locator("input[placeholder=exp_year]").fill("34")
            await element.locator("input[placeholder=cvc]").fill("123")
            await element.locator("input[placeholder=postal_code]").fill("11122")
            await page.get_by_test_id("pay").click()

            await expect(page.get_by_test_id("state")).to_have_text("Charging", timeout=30_000)
            await expect(page.get_by_test_id("energy")).not_to_have_text(re.compile(r"^0\.00 kWh$"), timeout=20_000)
            await page.get_by_test_id("stop").click()
            await expect(page.get_by_test_id("captured")).to_be_visible(timeout=30_000)
            captured = await page.get_by_test_id("captured").inner_text()
            assert re.fullmatch(r"\d+\.\d\d SEK", captured) and captured != "0.00 SEK"
            await page.get_by_test_id("receipt-link").click()
            await expect(page.locator("h1")).to_have_text("Receipt")
            await expect(page.locator("body")).to_contain_text(captured)
    finally:
        await context.close()
        charger.terminate()
        await charger.wait()
        drain.cancel()
