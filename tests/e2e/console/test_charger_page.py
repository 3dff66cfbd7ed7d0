"""The charger page: operations opens a simulator charger's page from the list, sees its
connectors change live and its readings as charts and a table, sends commands (a confirmed
unlock, a diagnostics request whose file it downloads, one to an offline charger) and sees
each answer; read-only sees no command forms and a forged command is refused; another
tenant's charger is a 404."""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from app.chargers.models import ChargePoint, CommandLog, DiagnosticsFile
from tests.e2e.console.conftest import Stack, assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser
LIVE_MS = 20_000


async def _commands_sent(stack: Stack, identity: str) -> int:
    """Commands the console sent (the bridge's own boot-time calls are not counted)."""
    async with stack.maker() as db:
        rows = await db.scalars(
            select(CommandLog.name)
            .join(ChargePoint, ChargePoint.id == CommandLog.charge_point_id)
            .where(ChargePoint.identity == identity, CommandLog.origin == "operator")
        )
        return len(rows.all())


async def _uploaded(stack: Stack, identity: str) -> None:
    async with asyncio.timeout(15):
        while True:
            async with stack.maker() as db:
                # Ours, not the one health asks for when the connector faults.
                done = await db.scalar(
                    select(DiagnosticsFile.id)
                    .join(CommandLog, CommandLog.id == DiagnosticsFile.command_id)
                    .join(ChargePoint, ChargePoint.id == DiagnosticsFile.charge_point_id)
                    .where(
                        ChargePoint.identity == identity,
                        CommandLog.origin == "operator",
                        DiagnosticsFile.uploaded_at.is_not(None),
                    )
                )
            if done is not None:
                return
            await asyncio.sleep(0.05)


def _box(page: Page, command: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#cmd-{command}-box")


async def test_operations_sends_commands_and_sees_the_chargers_answers(page: Page, stack: Stack) -> None:
    charger = stack.world.chargers[0]
    sim = await stack.charger(charger)
    try:
        for _ in range(3):
            await sim.send_meter_values(1)
        await sign_in(page, "operations")
        await page.goto("/console/chargers")
        await page.get_by_role("link", name=charger.identity).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"Charger {charger.identity}")
        status = page.locator("#evses [data-connector-status]")
        await expect(status).to_have_attribute("data-connector-status", "Available")
        await expect(page.locator("#readings tbody tr")).not_to_have_count(0)
        await expect(page.locator("#chart-voltage")).to_have_attribute("data-drawn", "1")

        # The connector's status follows the charger live.
        await sim.status(1, "Faulted", "GroundFailure", info="RCD tripped")
        await expect(status).to_have_attribute("data-connector-status", "Faulted", timeout=LIVE_MS)
        await expect(page.locator("#evses [data-status]")).to_have_attribute("data-status", "faulted")
        await sim.status(1, "Available")
        await expect(status).to_have_attribute("data-connector-status", "Available", timeout=LIVE_MS)

        # Unlock: bad input is shown next to its field and nothing is sent; then a
        # confirmation step, then the charger's answer.
        await page.locator("#cmd-unlock-connector summary").click()
        unlock = _box(page, "unlock-connector")
        await unlock.get_by_role("button", name="Send: Unlock a connector").click()
        await expect(unlock.locator("#cmd-unlock-connector-evse-error")).to_contain_text("evse")
        assert await _commands_sent(stack, charger.identity) == 0
        await assert_accessible(page)
        await unlock.get_by_label("EVSE number").fill("1")
        await unlock.get_by_role("button", name="Send: Unlock a connector").click()
        await expect(unlock.get_by_role("alert")).to_contain_text("are you sure?")
        assert await _commands_sent(stack, charger.identity) == 0
        await assert_accessible(page)
        await unlock.get_by_role("button", name="Yes, send: Unlock a connector").click()
        answer = unlock.locator(".answer")
        await expect(answer).to_have_attribute("data-answer-status", "Unlocked", timeout=LIVE_MS)
        await expect(answer).to_contain_text("The charger answered: Unlocked")
        await screenshot(page, "charger")

        # Diagnostics: no confirmation; the charger uploads, the page offers the file.
        await page.locator("#cmd-get-diagnostics summary").click()
        diagnostics = _box(page, "get-diagnostics")
        await diagnostics.get_by_role("button", name="Send: Ask for diagnostics").click()
        await expect(diagnostics.locator(".answer")).to_have_attribute("data-outcome", "answered", timeout=LIVE_MS)
        await _uploaded(stack, charger.identity)

        # Offline: the API's 409 problem, shown plainly.
        await sim.close()
        await page.locator("#cmd-trigger-message summary").click()
        trigger = _box(page, "trigger-message")
        await trigger.get_by_label("Message").select_option("Heartbeat")
        await trigger.get_by_role("button", name="Send: Ask for a message").click()
        problem = trigger.locator("[data-problem]")
        await expect(problem).to_have_attribute("data-problem", "charger.offline", timeout=LIVE_MS)
        await expect(problem).to_contain_text("409")

        # A command without the session's CSRF token is refused and not sent.
        before = await _commands_sent(stack, charger.identity)
        refused = await page.evaluate(
            """async (url) => (await fetch(url, {method: 'POST',
                 headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'message=Heartbeat'})).status""",
            f"/console/chargers/{charger.identity}/commands/trigger-message",
        )
        assert refused == 403
        # Without htmx (a plain form post): a page of its own with the real status.
        token = json.loads(str(await page.locator("body").get_attribute("hx-headers")))["X-CSRF-Token"]
        commands = f"/console/chargers/{charger.identity}/commands"
        bad = await page.request.post(f"{commands}/unlock-connector", form={"csrf_token": token, "connector": "1"})
        assert bad.status == 422
        assert 'id="cmd-unlock-connector-evse-error"' in await bad.text()
        confirm = await page.request.post(f"{commands}/reset", form={"csrf_token": token, "kind": "hard"})
        assert confirm.status == 200
        assert "Reset: are you sure?" in await confirm.text()
        assert (await page.request.post(f"{commands}/no-such", form={"csrf_token": token})).status == 404
        assert await _commands_sent(stack, charger.identity) == before

        # After a reload: the traffic (newest first), the file to download, the ranges.
        await page.goto(f"/console/chargers/{charger.identity}?hours=6")
        log = page.locator("#command-log tbody tr")
        await expect(log.first).to_have_attribute("data-command", "trigger-message")
        await expect(page.locator("#command-log")).to_contain_text("unlock-connector")
        await expect(page.locator("#charger-events")).to_contain_text("boot")
        await expect(page.locator(".ranges [aria-current]")).to_have_text("6 h")
        # The ground fault opened an incident: listed, linked to its own page.
        await expect(page.locator("#incidents a[href^='/console/incidents/']").first).to_be_visible()
        link = page.locator("#diagnostics a[download]").first  # health may have asked for one too
        await expect(link).to_be_visible()
        download = await page.request.get(str(await link.get_attribute("href")))
        assert download.status == 200
        assert "attachment" in download.headers["content-disposition"]
        assert len(await download.body()) > 0
        await assert_accessible(page)
    finally:
        await sim.close()


async def test_read_only_sees_no_command_forms_and_other_tenants_chargers_are_not_found(
    page: Page, stack: Stack
) -> None:
    world = stack.world
    charger = world.chargers[1]
    await sign_in(page, "read_only")
    response = await page.goto(f"/console/chargers/{charger.identity}")
    assert response is not None and response.status == 200
    await expect(page.locator("#commands")).to_contain_text("may look at this charger but not send it commands")
    await expect(page.locator("form.command-form")).to_have_count(0)
    await expect(page.locator("#evses")).to_contain_text("1")
    await assert_accessible(page)
    # On a phone: one column, wide tables scroll inside their own box, not the page.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    await assert_accessible(page)

    # A forged command with the session's own CSRF token: the role's guard refuses it.
    headers = json.loads(str(await page.locator("body").get_attribute("hx-headers")))
    status = await page.evaluate(
        """async ([url, token]) => (await fetch(url, {method: 'POST', headers: {'X-CSRF-Token': token,
             'content-type': 'application/x-www-form-urlencoded'}, body: 'kind=soft&confirmed=yes'})).status""",
        [f"/console/chargers/{charger.identity}/commands/reset", headers["X-CSRF-Token"]],
    )
    assert status == 403
    assert await _commands_sent(stack, charger.identity) == 0

    # Another tenant's charger: its page, stream and commands are not found.
    other = world.other_charger.identity
    response = await page.goto(f"/console/chargers/{other}")
    assert response is not None and response.status == 404
    live = await page.request.get(f"/console/chargers/{other}/live")
    assert live.status == 404
