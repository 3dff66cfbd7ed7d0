"""The overview and the charger list, live: a simulator charger connects and faults, and the
counts, its location's marker and its status change without a reload; another tenant's
charger never shows. Registering a charger by role. The chart helper the pages share."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from jinja2 import Environment, FileSystemLoader
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from app.chargers.events import ConnectorStatusChanged
from app.console.i18n import Translator
from app.console.routes import TEMPLATE_DIR
from app.operators.models import AuditEntry
from tests.e2e.console.conftest import PASSWORD, Stack, assert_accessible, email_of, screenshot, sign_in

pytestmark = pytest.mark.browser
LIVE_MS = 20_000  # connecting, the batched status write, the fault's diagnosis: a few seconds


def count(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#counts [data-count={name}]")


async def test_a_fault_turns_the_marker_red_and_changes_the_counts_live(page: Page, stack: Stack) -> None:
    world = stack.world
    hamngatan = world.chargers[0]
    await sign_in(page, "operations")
    map_box = page.locator("#map")
    await expect(map_box).to_have_attribute("data-markers", "2")  # Norrsken's two locations only
    await expect(count(page, "offline")).to_have_text("2")
    await expect(count(page, "online")).to_have_text("0")
    locations = page.locator("#location-list")
    await expect(locations).not_to_contain_text("Other depot")
    await expect(page.locator("#map-note")).to_be_visible()  # no tile URL here: the coordinate plot
    await assert_accessible(page)

    sim = await stack.charger(hamngatan)
    other = await stack.charger(world.other_charger)
    try:
        await expect(count(page, "online")).to_have_text("1", timeout=LIVE_MS)
        await expect(count(page, "offline")).to_have_text("1")
        await expect(page.locator("path.marker-critical")).to_have_count(0)

        await sim.status(1, "Faulted", "GroundFailure", info="RCD tripped")
        await other.status(1, "Faulted", "GroundFailure", info="RCD tripped")
        await expect(count(page, "faulted")).to_have_text("1", timeout=LIVE_MS)
        await expect(count(page, "online")).to_have_text("0")
        await expect(page.locator("path.marker-critical")).to_have_count(1, timeout=LIVE_MS)
        await expect(locations.locator(f"li[data-name='{hamngatan.location}']")).to_have_attribute(
            "data-worst", "critical"
        )
        await expect(map_box).to_have_attribute("data-markers", "2")
        await expect(locations).not_to_contain_text("Other depot")
        await screenshot(page, "overview-live")
        await screenshot(page, "overview-phone", phone=True)

        # The charger list: searchable, the status column live, the other tenant's absent.
        await page.get_by_role("navigation", name="Console").get_by_role("link", name="Chargers").click()
        rows = page.locator("#charger-table tbody tr")
        await expect(rows).to_have_count(2)
        await expect(page.locator("#charger-table")).not_to_contain_text(world.other_charger.identity)
        status = page.locator(f"tr[data-charger='{hamngatan.identity}'] [data-status]")
        await expect(status).to_have_attribute("data-status", "faulted")
        await assert_accessible(page)
        await screenshot(page, "chargers")
        await screenshot(page, "chargers-phone", phone=True)
        await sim.status(1, "Available")
        await expect(status).to_have_attribute("data-status", "online", timeout=LIVE_MS)

        await page.get_by_label("Search chargers").fill("kungsports")
        await expect(rows).to_have_count(1)
        await expect(rows).to_contain_text(world.chargers[1].identity)
        await page.get_by_label("Search chargers").fill(world.other_charger.identity)
        await expect(page.locator("#charger-table")).to_contain_text("No chargers match.")
        await page.get_by_label("Search chargers").fill("zaptec pro 2")  # vendor and model (never booted)
        await expect(rows).to_have_count(1)
        await expect(rows).to_contain_text(world.chargers[1].identity)
    finally:
        await sim.close()
        await other.close()


async def test_a_live_stream_ends_when_its_session_does(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        form = await client.get("/console/sign-in")
        token = form.cookies["laddnat_console_csrf"]
        signed_in = await client.post(
            "/console/sign-in",
            data={"csrf_token": token, "email": email_of("read_only"), "password": PASSWORD, "next": "/console"},
        )
        assert signed_in.status_code == 303
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/console")).text)
        assert csrf is not None
        async with client.stream("GET", "/console/live/overview") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            seen: list[str] = []
            async with asyncio.timeout(10):
                while "event: locations" not in seen:
                    seen.append(await anext(lines))
            # Signed out elsewhere (another tab): the next change ends the stream instead.
            signed_out = await client.post("/console/sign-out", data={"csrf_token": csrf.group(1)})
            assert signed_out.status_code == 303
            identity = stack.world.chargers[1].identity
            stack.bus.publish(
                ConnectorStatusChanged(
                    identity=identity,
                    evse=1,
                    connector=1,
                    status="Unavailable",
                    error_code=None,
                    vendor_error_code=None,
                    info=None,
                    at=datetime.now(UTC),
                )
            )
            async with asyncio.timeout(10):
                rest = [line async for line in lines]
            assert "event: counts" not in rest


async def test_operations_registers_a_charger_and_read_only_is_neither_offered_nor_allowed(
    page: Page, context: BrowserContext, browser: Browser, stack: Stack
) -> None:
    await sign_in(page, "operations")
    await page.goto("/console/chargers")
    await page.get_by_text("Register a charger").click()
    identity = f"NRS-NEW-{uuid.uuid4().hex[:6]}"
    form = page.locator("details.register")
    await form.get_by_label("OCPP identity").fill(identity)
    await form.get_by_label("Charger password").fill("short")
    await form.get_by_label("Location").select_option(label="Kungsportsavenyn")
    # The browser's own check (minlength) would stop "short": the server's answer is tested.
    await form.locator("#password").evaluate("el => el.removeAttribute('minlength')")
    await form.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("alert")).to_contain_text("too weak or predictable")
    await assert_accessible(page)
    await form.get_by_label("Charger password").fill(secrets.token_urlsafe(24))
    await form.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"{identity} is registered")
    await expect(page.locator(f"tr[data-charger='{identity}']")).to_contain_text("Kungsportsavenyn")
    async with stack.maker() as db:
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.path == "/console/chargers"))
    assert entry is not None and entry.action == "RegisterCharger" and entry.status_code == 303
    assert entry.actor_name == email_of("operations") and entry.operator_id == stack.world.tenant_id

    reader = await browser.new_context(base_url=stack.base_url, locale="en-GB")
    try:
        read_only = await reader.new_page()
        await sign_in(read_only, "read_only")
        await read_only.goto("/console/chargers")
        await expect(read_only.locator("tr[data-charger]").first).to_be_visible()
        await expect(read_only.get_by_text("Register a charger")).to_have_count(0)
        refused = await read_only.evaluate(
            """async (identity) => {
                 const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
                 const r = await fetch('/console/chargers', {method: 'POST', headers: {'X-CSRF-Token': token,
                   'content-type': 'application/x-www-form-urlencoded', accept: 'application/json'},
                   body: 'identity=' + identity + '&password=Zq8vLm3xRt7wNp2kYb5h'});
                 return [r.status, (await r.json()).code];
               }""",
            f"NRS-RO-{uuid.uuid4().hex[:6]}",
        )
        assert refused == [403, "auth.forbidden"]
    finally:
        await reader.close()


# -- the chart helper (static/console-charts.js, templates/console/_charts.html) --

SPEC = {
    "x": [1_765_000_000 + 60 * i for i in range(10)],
    "series": [{"label": "Power", "unit": "kW", "values": [0, 3.5, 7, 11, 11, 10.9, None, 6, 2, 0]}],
    "thresholds": [{"label": "Limit </script><b>", "value": 10}],
}


def chart_html() -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True)
    template = env.from_string(
        '{% import "console/_charts.html" as charts with context %}{{ charts.chart(id, title, spec, rows) }}'
    )
    rows = [(x, v) for x, v in zip(SPEC["x"], SPEC["series"][0]["values"], strict=True)]
    return template.render(id="power", title="Power, last hour", spec=SPEC, rows=rows, t=Translator("en"))


def test_the_chart_macro_keeps_its_data_inert() -> None:
    html = chart_html()
    assert html.count("</script>") == 1  # the data's own "</script>" is escaped
    assert "\\u003c/script\\u003e" in html


async def test_a_chart_is_drawn_under_the_consoles_csp(page: Page) -> None:
    await page.goto("/console/sign-in")  # any console page: its CSP applies
    await page.evaluate("html => document.querySelector('main').insertAdjacentHTML('beforeend', html)", chart_html())
    await page.add_script_tag(url="/console/static/vendor/uplot/uPlot.iife.min.js")
    await page.add_script_tag(url="/console/static/console-charts.js")
    box = page.locator("#power")
    await expect(box).to_have_attribute("data-drawn", "1")
    await expect(box.locator("canvas")).to_have_count(1)
    await expect(box.locator(".u-legend")).to_contain_text("Power (kW)")
    await expect(box.locator(".u-legend")).to_contain_text("Limit </script><b>")
    await page.get_by_text("Power, last hour: the figures as a table").click()
    await expect(page.locator(".chart-data table tbody tr")).to_have_count(10)
