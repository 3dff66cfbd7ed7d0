"""Settings: an admin creates a tariff (its price text previewed as it is typed) and applies
it, a webhook endpoint and an API key (each secret shown once), adds and changes a user,
and suspends a roaming partner; a read-only user sees no form and a forged change is 403;
another tenant's tariff, endpoint or user is a 404 page."""

from __future__ import annotations

import hashlib
import re
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from app.drivers.models import User
from app.operators.models import AuditEntry
from app.operators.webhooks.service import WebhookService
from app.roaming.models import OcpiPartner
from app.tariffs.pricing import TariffTerms
from app.tariffs.service import TariffService
from tests.e2e.console.conftest import OTHER_ADMIN, PASSWORD, Stack, assert_accessible, email_of, screenshot, sign_in

pytestmark = pytest.mark.browser
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _others(stack: Stack) -> dict[str, uuid.UUID]:
    """A tariff, a webhook endpoint and a user of the other tenant."""
    other = stack.world.other_tenant_id
    async with stack.maker() as db:
        tariff = await TariffService(db, stack.bus, tenant_id=other).create(
            TariffTerms(name="Other's", currency="SEK", price_per_kwh_minor=500, vat_rate_bp=2500)
        )
        endpoint, _ = await WebhookService(db, "k" * 32, scope=other).create(
            url="https://hooks.example.com/other", description="", events=[], active=True
        )
        user = await db.scalar(select(User.id).where(User.email == OTHER_ADMIN))
        assert user is not None
        return {"tariff": tariff.id, "webhook": endpoint.id, "user": user}


async def _partner(stack: Stack, name: str) -> None:
    async with stack.maker() as db:
        db.add(
            OcpiPartner(
                operator_id=stack.world.tenant_id,
                name=name,
                state="registered",
                country_code="DE",
                party_id="EMS",
                token_digest=hashlib.sha256(name.encode()).hexdigest(),
            )
        )
        await db.commit()


async def _signed_in(client: httpx.AsyncClient, role: str) -> str:
    """Sign ``client`` in through the form; the session's CSRF token."""
    form = await client.get("/console/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    done = await client.post(
        "/console/sign-in", data={"email": email_of(role), "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text
    page = await client.get("/console/settings/tariffs", headers={"accept": "text/html"})
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def test_an_admin_sets_up_tariffs_webhooks_keys_users_and_partners(page: Page, stack: Stack) -> None:
    await _partner(stack, "Plugsurfing")
    await sign_in(page, "admin")
    await page.get_by_role("navigation", name="Console").get_by_role("link", name="Settings").click()
    await expect(page.get_by_role("heading", name="Tariffs", exact=True)).to_be_visible()
    preview = page.locator("#price-preview")
    await page.get_by_label("Price per kWh (SEK)").fill("3.49")
    await expect(preview).to_contain_text("3.49 SEK/kWh")
    await page.get_by_label("Name").fill("Standard")
    await page.get_by_label("Price per kWh (SEK)").fill("4.1")
    await expect(preview).to_contain_text("4.10 SEK/kWh; incl. 25% VAT")
    await page.get_by_label("Minimum price (SEK)").fill("10")
    await expect(preview).to_contain_text("Not valid yet: the hold must cover the minimum price")
    await page.get_by_label("Reserved on the card (SEK)").fill("300")
    await expect(preview).to_contain_text("min 10.00 SEK; 300.00 SEK reserved on your card")
    await assert_accessible(page)
    await screenshot(page, "settings-tariffs")

    # Refused by the service: shown beside the field, nothing stored.
    await page.get_by_label("Maximum price (SEK)").fill("5")
    await page.get_by_role("button", name="Create tariff").click()
    await expect(page.locator("[data-error-for=minPrice]")).to_contain_text("minPriceMinor is above maxPriceMinor")
    await expect(page.locator("#tariff-table")).to_have_count(0)
    await page.get_by_label("Maximum price (SEK)").fill("")
    await page.get_by_role("button", name="Create tariff").click()
    await expect(page.get_by_role("status").first).to_have_text("The tariff is created.")
    await expect(page.locator("#current-price")).to_contain_text("4.10 SEK/kWh; incl. 25% VAT; min 10.00 SEK")
    await page.get_by_label("Where").select_option(label="Whole network (Norrsken Laddning)")
    await page.get_by_role("button", name="Apply", exact=True).click()
    await expect(page.get_by_role("status").first).to_have_text("The tariff now applies there.")
    await page.get_by_label("Price per kWh (SEK)").fill("3.99")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator("#current-price")).to_contain_text("3.99 SEK/kWh")
    await assert_accessible(page)
    await page.get_by_role("link", name="All tariffs").click()
    levels = page.locator("#where-table td[data-level]")
    await expect(levels).to_have_count(2)
    for n in range(2):
        await expect(levels.nth(n)).to_have_attribute("data-level", "operator")
    await expect(page.locator("#tariff-table")).to_contain_text("Standard")

    # A webhook endpoint: its secret once, then its delivery log.
    await page.get_by_role("link", name="Webhooks").click()
    await page.get_by_label("URL").fill("http://example.com/hook")
    await page.get_by_role("button", name="Create endpoint").click()
    await expect(page.locator("[data-error-for=url]")).to_contain_text("use https://")
    await page.get_by_label("URL").fill("https://hooks.example.com/laddnat")
    await page.get_by_label("incident.opened").check()
    await page.get_by_role("button", name="Create endpoint").click()
    await expect(page.locator("#secret")).to_have_text(re.compile(r"^whsec_\S{40,}$"))
    await assert_accessible(page)
    first_secret = await page.locator("#secret").inner_text()
    await page.get_by_role("link", name="I have stored it: continue").click()
    await expect(page.locator("#secret")).to_have_count(0)
    await expect(page.locator("main")).not_to_contain_text(first_secret)
    await page.get_by_role("button", name="New signing secret").click()
    await expect(page.locator("#secret")).to_have_text(re.compile(r"^whsec_\S{40,}$"))
    assert await page.locator("#secret").inner_text() != first_secret
    await page.get_by_role("link", name="I have stored it: continue").click()
    await page.get_by_role("button", name="Send a test event").click()
    await expect(page.locator("#delivery-table tbody tr")).to_have_count(1)
    await expect(page.locator("#delivery-table")).to_contain_text("webhook.test")
    await assert_accessible(page)
    await screenshot(page, "settings-webhook")
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator("[data-state=disabled]")).to_be_visible()
    await page.get_by_role("button", name="Send a test event").click()
    await expect(page.get_by_role("alert")).to_contain_text("activate the endpoint before testing it")
    await expect(page.locator("#delivery-table tbody tr")).to_have_count(1)

    # An API key: shown once, then revoked.
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_label("Name").fill("Billing export")
    await page.get_by_label("Finance").check()
    await page.get_by_role("button", name="Create key").click()
    key = await page.locator("#secret").inner_text()
    assert key.startswith("lnk_")
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        used = await client.get("/api/v1/operator/tariffs", headers={"authorization": f"Bearer {key}"})
    assert used.status_code == 200, used.text
    await page.get_by_role("link", name="I have stored it: continue").click()
    await expect(page.locator("#key-table")).not_to_contain_text(key.split("_")[2])
    await assert_accessible(page)
    await page.get_by_role("button", name="Revoke Billing export").click()
    await expect(page.locator("tr[data-key='Billing export'] [data-revoked]")).to_have_attribute("data-revoked", "true")

    # A user: added with a role, the role changed, deactivated.
    await page.get_by_role("link", name="Users").click()
    await page.get_by_label("Email").fill("new-ops@norrsken.example")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.locator("[data-error-for=password]")).to_be_visible()
    await page.get_by_label("Password").fill("a-long-password-9")
    await page.locator("#f-role").select_option("operations")
    await page.get_by_role("button", name="Add user").click()
    row = page.locator("tr[data-user='new-ops@norrsken.example']")
    await expect(row.locator("[data-role]")).to_have_attribute("data-role", "operations")
    await row.get_by_label("Role of new-ops@norrsken.example").select_option("finance")
    await row.get_by_role("button", name="Change role").click()
    await expect(row.locator("[data-role]")).to_have_attribute("data-role", "finance")
    await row.get_by_role("button", name="Deactivate").click()
    await expect(row.locator("[data-active]")).to_have_attribute("data-active", "false")
    await assert_accessible(page)
    await screenshot(page, "settings-users")

    # A roaming partner: suspended, resumed.
    await page.get_by_role("link", name="Roaming partners").click()
    partner = page.locator("tr[data-partner='Plugsurfing']")
    await partner.get_by_role("button", name="Suspend").click()
    await expect(partner.locator("[data-state]")).to_have_attribute("data-state", "suspended")
    await assert_accessible(page)
    await partner.get_by_role("button", name="Resume").click()
    await expect(partner.locator("[data-state]")).to_have_attribute("data-state", "registered")

    # Each change is in the tenant's audit log under the API's operation, as if made there.
    async with stack.maker() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.operator_id == stack.world.tenant_id, AuditEntry.path.startswith("/console/settings")
                )
            )
        )
    assert sorted(set(actions)) == [
        "AssignTariff",
        "CreateApiKey",
        "CreateStaffUser",
        "CreateTariff",
        "CreateWebhook",
        "ResumeRoamingPartner",
        "RevokeApiKey",
        "RotateWebhookSecret",
        "SuspendRoamingPartner",
        "TestWebhook",
        "UpdateStaffUser",
        "UpdateTariff",
        "UpdateWebhook",
    ]
    assert actions.count("TestWebhook") == 1  # the refused one (inactive) changed nothing


async def test_read_only_sees_no_form_and_a_forged_change_is_refused(page: Page, stack: Stack) -> None:
    await sign_in(page, "read_only")
    await page.goto("/console/settings")
    await expect(page.get_by_role("heading", name="Tariffs", exact=True)).to_be_visible()
    await expect(page.locator("form[method=post]:not(.sign-out)")).to_have_count(0)
    await expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    await assert_accessible(page)
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.locator("#webhook-form")).to_have_count(0)
    await assert_accessible(page)
    token = await page.locator("form.sign-out input[name=csrf_token]").get_attribute("value")
    await page.goto("/console/settings/users")
    await expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()

    # The page's own token, in a request from the page: the guards refuse all the same.
    for path, body in [
        ("/console/settings/tariffs", "name=X&currency=SEK&vatRate=25"),
        ("/console/settings/webhooks", "url=https%3A%2F%2Fhooks.example.com%2Fx"),
        ("/console/settings/users", "email=x%40norrsken.example&password=a-long-password-9&role=admin"),
        ("/console/settings/api-keys", "name=X&roles=read_only"),
    ]:
        status = await page.evaluate(
            """async ([path, body]) => (await fetch(path, {method: 'POST', body,
                 headers: {'content-type': 'application/x-www-form-urlencoded'}})).status""",
            [path, f"{body}&csrf_token={token}"],
        )
        assert status == 403, path


async def test_another_tenants_things_are_not_found_and_a_change_needs_the_token(stack: Stack) -> None:
    others = await _others(stack)
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"accept": "text/html"}) as client:
        token = await _signed_in(client, "admin")
        for path in [
            f"/console/settings/tariffs/{others['tariff']}",
            f"/console/settings/webhooks/{others['webhook']}",
        ]:
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert "There is no such page." in answer.text
        for path, data in [
            (f"/console/settings/tariffs/{others['tariff']}", {"name": "Mine", "vatRate": "25"}),
            (f"/console/settings/webhooks/{others['webhook']}/delete", {}),
            (f"/console/settings/users/{others['user']}", {"active": "false"}),
        ]:
            answer = await client.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 404, path
        # The tariff preview and every change need the session's token.
        missing = await client.post("/console/settings/tariffs/preview", data={"name": "X"})
        assert missing.status_code == 403
        shown = await client.post(
            "/console/settings/tariffs/preview",
            data={"name": "X", "currency": "EUR", "pricePerKwh": "0.59", "vatRate": "19", "csrf_token": token},
        )
        assert shown.status_code == 200
        assert "0.59 EUR/kWh; incl. 19% VAT" in shown.text
    async with stack.maker() as db:
        user = await db.get(User, others["user"])
        assert user is not None and user.active
        assert (await TariffService(db, stack.bus).get(others["tariff"])).name == "Other's"
