"""Incidents and uptime in the console: a simulator charger overheats, its incident appears in
the feed live, its page shows the diagnosis, the readings as charts, the trail; operations
acknowledges and resolves it, read-only sees no buttons and is refused anyway; another
tenant's incident is a 404. The uptime page shows the NEVI line and takes an exclusion."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from app.chargers.models import ChargePoint, Location
from app.health.models import Incident
from app.health.service import IncidentService
from app.operators.models import AuditEntry
from app.uptime.models import UptimeExclusion
from tests.e2e.console.conftest import Stack, assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser
LIVE_MS = 20_000  # connecting, the batched writes, the detector and the diagnosis: a few seconds


async def _incident_of(stack: Stack, identity: str) -> uuid.UUID:
    async with stack.maker() as db:
        found = await db.scalar(select(Incident.id).where(Incident.identity == identity).limit(1))
    assert found is not None
    return found


async def _audited(stack: Stack, path_prefix: str) -> list[str]:
    """The tenant's audit log actions of console changes under ``path_prefix``, sorted."""
    async with stack.maker() as db:
        stmt = select(AuditEntry.action).where(
            AuditEntry.operator_id == stack.world.tenant_id, AuditEntry.path.startswith(path_prefix)
        )
        return sorted(await db.scalars(stmt))


async def _csrf(page: Page) -> str:
    headers = await page.locator("body").get_attribute("hx-headers")
    assert headers is not None
    token = re.search(r'"X-CSRF-Token": ?"([^"]+)"', headers)
    assert token is not None
    return token.group(1)


async def test_an_overheating_charger_is_a_live_incident_acknowledged_and_resolved(page: Page, stack: Stack) -> None:
    world = stack.world
    hamngatan = world.chargers[0]
    await sign_in(page, "operations")
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Incidents").click()
    await expect(page.get_by_role("heading", name="Incidents", level=1)).to_be_visible()
    await expect(page.locator("#feed-count")).to_have_attribute("data-total", "0")
    await assert_accessible(page)

    sim = await stack.charger(hamngatan)
    other = await stack.charger(world.other_charger)
    try:
        await sim.overheat(1, to_celsius=90.0, steps=1)
        await other.overheat(1, to_celsius=90.0, steps=1)
        row = page.locator(f"#incident-feed tr[data-identity='{hamngatan.identity}']")
        await expect(row).to_have_count(1, timeout=LIVE_MS)  # no reload: over the SSE stream
        await expect(row).to_have_attribute("data-severity", "critical")
        await expect(page.locator("#incident-feed")).not_to_contain_text(world.other_charger.identity)
        await screenshot(page, "incidents")

        # The filters narrow the feed as the API does.
        await page.get_by_label("Severity").select_option("info")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#feed-count")).to_have_attribute("data-total", "0")
        await page.get_by_label("Severity").select_option("critical")
        await page.get_by_label("Detector").select_option("overheating")
        await page.get_by_label("Location").select_option(label=hamngatan.location)
        await page.get_by_role("button", name="Show").click()
        await expect(row).to_have_count(1)

        await row.get_by_role("link").click()
        await expect(page.locator("[data-cause]")).to_have_attribute("data-cause", "overheating")
        await expect(page.locator("#summary")).to_contain_text("over the 70 °C limit")
        await expect(page.locator("[data-scope]")).to_have_attribute("data-scope", "charger")
        celsius = page.locator("figure.evidence-chart[data-unit='°C']")
        await expect(celsius.locator("svg rect.bar")).to_have_count(2)  # the reading and the limit
        await expect(celsius.locator("td[data-value='90.0']")).to_have_count(1)
        await expect(celsius.locator("td[data-value='70.0']")).to_have_count(1)
        await expect(page.locator(".raw-evidence dt", has_text="limitC")).to_have_count(1)
        trail = page.locator("#trail")
        await expect(trail.locator("tr[data-state='open']")).to_have_count(1)
        await expect(trail.locator("tr[data-kind='action']").first).to_be_visible(timeout=LIVE_MS)  # the playbook
        # The page is live: a step noted now shows without a reload.
        incident_id = uuid.UUID(page.url.rsplit("/", 1)[-1])
        async with stack.maker() as db:
            await IncidentService(db, stack.bus).note(incident_id, "note", {"technician": "on the way"}, change="note")
        await expect(trail.locator("tr[data-kind='note']", has_text="on the way")).to_have_count(1, timeout=LIVE_MS)
        download = page.locator("#diagnostics a[download]")  # the playbook's diagnostics, once uploaded
        await expect(download).to_have_count(1, timeout=LIVE_MS)
        log = await page.request.get(await download.get_attribute("href") or "")
        assert log.ok and "attachment" in log.headers["content-disposition"] and len(await log.body()) > 0
        await assert_accessible(page)
        await screenshot(page, "incident")

        await page.get_by_role("button", name="Acknowledge").click()
        await expect(page.get_by_role("status")).to_have_text("The incident is acknowledged.")
        await expect(page.locator("#incident-state [data-state]")).to_have_attribute("data-state", "acknowledged")
        await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
        await page.get_by_label("Note (optional)").fill("Fan replaced on site")
        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator("#incident-state [data-state]")).to_have_attribute("data-state", "resolved")
        await expect(trail.locator("tr[data-state='resolved']")).to_contain_text("Fan replaced on site")
        await expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
        # In the audit log under the API's operations, as if made there.
        assert await _audited(stack, "/console/incidents") == ["AcknowledgeIncident", "ResolveIncident"]
    finally:
        await sim.close()
        await other.close()


async def test_read_only_sees_no_buttons_and_is_refused_and_another_tenants_incident_is_404(
    page: Page, stack: Stack
) -> None:
    world = stack.world
    mine = await _incident_of(stack, world.chargers[0].identity)
    theirs = await _incident_of(stack, world.other_charger.identity)
    await sign_in(page, "read_only")
    await page.goto(f"/console/incidents/{mine}")
    await expect(page.locator("[data-cause]")).to_be_visible()
    await expect(page.locator("section.actions")).to_have_count(0)
    await expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    token = await _csrf(page)
    refused = await page.request.post(
        f"/console/incidents/{theirs}/acknowledge",
        headers={"X-CSRF-Token": token, "Origin": stack.base_url},
        max_redirects=0,
    )
    assert refused.status == 403  # the guard, before the tenant is even looked at
    missing = await page.goto(f"/console/incidents/{theirs}")
    assert missing is not None and missing.status == 404
    await expect(page.locator("main")).to_contain_text("There is no such page.")
    for tail in ("live", f"diagnostics/{uuid.uuid4()}"):
        assert (await page.request.get(f"/console/incidents/{theirs}/{tail}")).status == 404


async def test_changes_need_the_csrf_token_and_operations_cannot_touch_another_tenant(page: Page, stack: Stack) -> None:
    theirs = await _incident_of(stack, stack.world.other_charger.identity)
    await sign_in(page, "operations")
    await page.goto("/console/incidents")
    without = await page.request.post(
        f"/console/incidents/{theirs}/resolve", headers={"Origin": stack.base_url}, max_redirects=0
    )
    assert without.status == 403 and (await without.json())["code"] == "console.csrf_failed"
    token = await _csrf(page)
    other = await page.request.post(
        f"/console/incidents/{theirs}/resolve",
        headers={"X-CSRF-Token": token, "Origin": stack.base_url, "Accept": "text/html"},
        max_redirects=0,
    )
    assert other.status == 404
    async with stack.maker() as db:
        incident = await db.get(Incident, theirs)
    assert incident is not None and incident.state != "resolved"
    # Resolved already (by the first test): the service's refusal, on the page, nothing changes.
    mine = await _incident_of(stack, stack.world.chargers[0].identity)
    again = await page.request.post(
        f"/console/incidents/{mine}/resolve",
        headers={"X-CSRF-Token": token, "Origin": stack.base_url, "Accept": "text/html"},
        form={"note": "twice"},
        max_redirects=0,
    )
    assert again.status == 409
    assert 'data-code="incident.already_resolved"' in await again.text()


async def test_the_console_pages_need_a_session(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as http:
        for path in ("/console/incidents", f"/console/incidents/{uuid.uuid4()}", "/console/uptime"):
            answer = await http.get(path, headers={"Accept": "text/html"})
            assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]


async def test_uptime_shows_the_nevi_line_and_operations_adds_an_exclusion(page: Page, stack: Stack) -> None:
    world = stack.world
    await sign_in(page, "operations")
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Uptime").click()
    await expect(page.get_by_role("heading", name="Uptime", level=1)).to_be_visible()
    chart = page.locator("svg.uptime")
    await expect(chart).to_have_attribute("data-threshold", "97.0")
    await expect(chart.locator("line.nevi-threshold")).to_have_count(1)
    await expect(chart).to_contain_text("NEVI 97 %")
    await expect(page.locator("#site-months tbody tr")).to_have_count(12)
    await expect(page.locator("#port-months tbody tr")).to_have_count(1)  # Hamngatan's one port
    await assert_accessible(page)
    await screenshot(page, "uptime")
    csv = await page.request.get(await page.get_by_role("link", name="Availability as CSV").get_attribute("href") or "")
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")
    assert (await csv.text()).startswith("month,scope,portId")

    # A period that ends before it starts: the service's message by the field, nothing saved.
    await page.get_by_label("Excluded").select_option(label=f"Site: {world.chargers[0].location}")
    await page.get_by_label("Starts (UTC)").fill("2026-11-02T12:00")
    await page.get_by_label("Ends (UTC)").fill("2026-11-02T10:00")
    await page.get_by_label("Reason").select_option("grid_failure")
    await page.get_by_role("button", name="Add exclusion").click()
    await expect(page.locator("#ends_at-error")).to_have_text("endsAt must be after startsAt")
    await expect(page.get_by_label("Ends (UTC)")).to_have_attribute("aria-invalid", "true")
    async with stack.maker() as db:
        assert await db.scalar(select(UptimeExclusion.id).limit(1)) is None
    await page.get_by_label("Ends (UTC)").fill("2026-11-02T14:00")
    await page.get_by_role("button", name="Add exclusion").click()
    await expect(page.get_by_role("status")).to_have_text("The exclusion is added.")
    await expect(page.locator("#exclusions tbody tr")).to_have_count(1)
    await expect(page.locator("#exclusions")).to_contain_text("Grid failure")
    await assert_accessible(page)
    await page.get_by_role(
        "button", name=re.compile(f"Remove the exclusion of Site: {world.chargers[0].location}")
    ).click()
    await expect(page.get_by_role("status")).to_have_text("The exclusion is removed.")
    await expect(page.locator("#exclusions")).to_have_count(0)
    # The refused form is not in the audit log; the two changes are.
    assert await _audited(stack, "/console/uptime") == ["CreateUptimeExclusion", "DeleteUptimeExclusion"]


async def test_read_only_sees_uptime_without_forms_and_another_tenants_site_is_404(page: Page, stack: Stack) -> None:
    async with stack.maker() as db:
        theirs = await db.scalar(select(Location.id).where(Location.operator_id == stack.world.other_tenant_id))
        their_cp = await db.scalar(select(ChargePoint.id).where(ChargePoint.operator_id == stack.world.other_tenant_id))
    await sign_in(page, "read_only")
    await page.goto("/console/uptime")
    await expect(page.locator("svg.uptime line.nevi-threshold")).to_have_count(1)
    await expect(page.locator("form.exclusion-form")).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("Remove"))).to_have_count(0)
    token = await _csrf(page)
    refused = await page.request.post(
        "/console/uptime/exclusions",
        headers={"X-CSRF-Token": token, "Origin": stack.base_url},
        form={"target": f"charge_point:{their_cp}", "starts_at": "2026-11-01T00:00", "ends_at": "2026-11-01T01:00"},
        max_redirects=0,
    )
    assert refused.status == 403
    missing = await page.goto(f"/console/uptime?location={theirs}")
    assert missing is not None and missing.status == 404
    svg = await page.request.get(f"/console/uptime/{theirs}/availability.svg")
    assert svg.status == 404
