"""Signing in and out of the console, its session cookie, CSRF, idle expiry and languages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import update

from app.drivers.models import User
from app.drivers.service import UserService
from tests.e2e.console.conftest import (
    DRIVER_EMAIL,
    PASSWORD,
    ROLES,
    Stack,
    assert_accessible,
    email_of,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.browser


async def _session_cookie(context: BrowserContext) -> dict[str, object]:
    cookies = [c for c in await context.cookies() if "laddnat_console" in c["name"] and "csrf" not in c["name"]]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


async def test_the_sign_in_page_is_accessible_and_the_overview_needs_a_session(page: Page, stack: Stack) -> None:
    response = await page.goto("/console")
    assert response is not None
    assert page.url.startswith(f"{stack.base_url}/console/sign-in?next=%2Fconsole")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await assert_accessible(page)
    # The first Tab reaches the skip link, shown while focused; it leads to the main landmark.
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the main content")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_in_viewport()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    await screenshot(page, "sign-in")


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_signs_in_and_sees_its_tenant_and_role(page: Page, stack: Stack, role: str) -> None:
    await sign_in(page, role)
    header = page.get_by_role("banner")
    await expect(header).to_contain_text(stack.world.tenant_name)
    await expect(header).to_contain_text(email_of(role))
    await expect(page.get_by_role("navigation", name="Console").get_by_role("link", name="Chargers")).to_be_visible()
    if role == "admin":
        await assert_accessible(page)
        await screenshot(page, "overview")


@pytest.mark.parametrize("email,password", [(email_of("admin"), "wrong-password-99"), (DRIVER_EMAIL, PASSWORD)])
async def test_a_wrong_password_and_a_driver_get_the_same_refusal(page: Page, email: str, password: str) -> None:
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Wrong email or password, or the account cannot use the console."
    )
    assert "/console/sign-in" in page.url


async def test_the_session_cookie_is_httponly_lax_and_scoped_to_the_console(
    page: Page, context: BrowserContext
) -> None:
    await sign_in(page, "read_only")
    cookie = await _session_cookie(context)
    assert cookie["name"] == "laddnat_console"  # plain http: no Secure, no __Secure- prefix
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/console"
    assert cookie["secure"] is False
    assert cookie["expires"] == -1  # a browser-session cookie: the server ends sessions


async def test_sign_in_rotates_the_session_id(page: Page, context: BrowserContext, stack: Stack) -> None:
    await sign_in(page, "operations")
    first = (await _session_cookie(context))["value"]
    await sign_in(page, "operations")
    second = (await _session_cookie(context))["value"]
    assert first != second
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        replay = await client.get("/console", cookies={"laddnat_console": str(first)}, headers={"accept": "text/html"})
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/console/sign-in")


async def test_sign_out_ends_the_session_and_its_cookie_replays_fail(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    await sign_in(page, "finance")
    value = str((await _session_cookie(context))["value"])
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        replay = await client.get("/console", cookies={"laddnat_console": value}, headers={"accept": "text/html"})
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/console/sign-in")


async def test_an_idle_session_ends(page: Page, stack: Stack) -> None:
    await sign_in(page, "admin")
    # The clock is real time plus what the test adds: 120 s short of the timeout leaves room
    # for a slow machine's own seconds between the steps (5 s did not, under load).
    almost = stack.settings.console.idle_timeout_s - 120
    stack.clock.advance(almost)
    await page.goto("/console")  # still in time: the visit counts as use
    assert page.url == f"{stack.base_url}/console"
    stack.clock.advance(almost)
    await page.goto("/console")  # idle less than the timeout since the last visit
    assert page.url == f"{stack.base_url}/console"
    stack.clock.advance(stack.settings.console.idle_timeout_s + 1)
    await page.goto("/console")
    assert "/console/sign-in" in page.url
    await expect(page.get_by_role("status")).to_have_text("Your session has ended. Sign in again.")


async def test_a_form_without_the_csrf_token_is_refused(page: Page, context: BrowserContext, stack: Stack) -> None:
    await sign_in(page, "admin")
    # The sign-out form, posted from the page itself but without its hidden token.
    status = await page.evaluate(
        """async () => (await fetch('/console/sign-out', {method: 'POST',
             headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'x=1'})).status"""
    )
    assert status == 403
    value = str((await _session_cookie(context))["value"])
    token = await page.locator("form.sign-out input[name=csrf_token]").get_attribute("value")
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        cookies = {"laddnat_console": value}
        missing = await client.post("/console/sign-out", cookies=cookies, data={})
        assert missing.status_code == 403
        assert missing.json()["code"] == "console.csrf_failed"
        wrong = await client.post("/console/sign-out", cookies=cookies, data={"csrf_token": "nope"})
        assert wrong.status_code == 403
        foreign = await client.post(
            "/console/sign-out", cookies=cookies, data={"csrf_token": token}, headers={"origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        # The sign-in form's own double-submit token: a post without the cookie's twin fails.
        forged = await client.post("/console/sign-in", data={"email": email_of("admin"), "password": PASSWORD})
        assert forged.status_code == 403
    # The session survived all of that.
    await page.goto("/console")
    assert page.url == f"{stack.base_url}/console"


async def test_the_language_switch_and_accept_language(page: Page, browser_swedish: Page) -> None:
    await sign_in(page, "operations")
    await page.get_by_role("link", name="Svenska").click()
    await expect(page.locator("html")).to_have_attribute("lang", "sv")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nätöversikt")
    await expect(page.get_by_role("button", name="Logga ut")).to_be_visible()
    await assert_accessible(page)
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Network overview")
    # A Swedish browser gets Swedish before any choice.
    await browser_swedish.goto("/console/sign-in")
    await expect(browser_swedish.locator("html")).to_have_attribute("lang", "sv")
    await expect(browser_swedish.get_by_role("heading", level=1)).to_have_text("Logga in")


@pytest.fixture
async def browser_swedish(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    swedish = await browser.new_context(base_url=stack.base_url, locale="sv-SE")
    yield await swedish.new_page()
    await swedish.close()


async def test_a_password_change_or_deactivation_ends_the_users_sessions(page: Page, stack: Stack) -> None:
    email = f"leaver-{uuid.uuid4().hex[:6]}@norrsken.example"
    async with stack.maker() as db:
        user = await UserService(db).create_user(email, PASSWORD, "operations", operator_id=stack.world.tenant_id)
    await sign_in(page, "operations", email=email)
    async with stack.maker() as db:
        await db.execute(update(User).where(User.id == user.id).values(token_version=User.token_version + 1))
        await db.commit()
    await page.goto("/console")
    assert "/console/sign-in" in page.url
    await sign_in(page, "operations", email=email)
    async with stack.maker() as db:
        await db.execute(update(User).where(User.id == user.id).values(active=False))
        await db.commit()
    await page.goto("/console")
    assert "/console/sign-in" in page.url


async def test_over_https_the_cookies_are_secure_and_the_session_cookie_prefixed(stack: Stack) -> None:
    # Behind a TLS proxy on this host: uvicorn takes the scheme from X-Forwarded-Proto.
    https = {"x-forwarded-proto": "https", "accept": "text/html"}
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        form = await client.get("/console/sign-in", headers=https)
        csrf_header = form.headers["set-cookie"]
        assert "laddnat_console_csrf=" in csrf_header and "Secure" in csrf_header and "HttpOnly" in csrf_header
        token = form.cookies["laddnat_console_csrf"]
        signed_in = await client.post(
            "/console/sign-in",
            headers={**https, "cookie": f"laddnat_console_csrf={token}"},
            data={"csrf_token": token, "email": email_of("admin"), "password": PASSWORD, "next": "/console"},
        )
        assert signed_in.status_code == 303, signed_in.text
        [session] = [h for h in signed_in.headers.get_list("set-cookie") if h.startswith("__Secure-laddnat_console=")]
        flags = {part.strip().lower() for part in session.split(";")[1:]}
        assert {"httponly", "secure", "path=/console", "samesite=lax"} <= flags, session
        value = session.split(";")[0].split("=", 1)[1]
        overview = await client.get("/console", headers={**https, "cookie": f"__Secure-laddnat_console={value}"})
        assert overview.status_code == 200
        assert "Norrsken Laddning" in overview.text
