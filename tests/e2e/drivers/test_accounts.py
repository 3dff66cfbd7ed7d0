"""Sign-up, sign-in, refresh, logout, logout everywhere and password change, over the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import jwt

from tests.e2e.drivers.conftest import DriverApi, link_token, new_address, sign_up_mails
from tests.e2e.test_api import bearer, problem

PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"driver-{uuid.uuid4().hex[:8]}@example.se"


async def signup(drivers: DriverApi, email: str, password: str = PASSWORD) -> httpx.Response:
    return await drivers.at(new_address()).post("/api/v1/auth/signup", json={"email": email, "password": password})


async def test_sign_up_creates_a_driver_with_a_normalised_email_and_signs_in(drivers: DriverApi) -> None:
    email = new_email()
    pair = await drivers.sign_up(f"  {email.upper()} ", PASSWORD)
    assert pair["tokenType"] == "Bearer" and pair["refreshToken"]
    me = await drivers.client.get("/api/v1/me", headers=bearer(pair["accessToken"]))
    assert me.status_code == 200, me.text
    assert (me.json()["email"], me.json()["role"]) == (email, "driver")
    # The access token names the token version it was issued under.
    assert jwt.decode(pair["accessToken"], options={"verify_signature": False})["ver"] == 0
    r = await drivers.login(email, PASSWORD)
    assert r.status_code == 200, r.text


async def test_sign_up_answers_the_same_for_a_new_and_a_registered_email(drivers: DriverApi) -> None:
    registered = new_email()
    await drivers.sign_up(registered, PASSWORD)
    fresh = new_email()
    r_new, r_taken = await signup(drivers, fresh), await signup(drivers, registered.upper(), "another passphrase")
    assert (r_new.status_code, r_new.json()) == (202, {"status": "check_mail"})
    assert (r_taken.status_code, r_taken.content) == (r_new.status_code, r_new.content)
    assert r_taken.headers["content-type"] == r_new.headers["content-type"]
    # Only the mailboxes tell: a link for the new address, a note for the registered one.
    assert [m.kind for m in await sign_up_mails(drivers.maker, fresh)] == ["signup_verify"]
    assert [m.kind for m in await sign_up_mails(drivers.maker, registered)] == ["signup_verify", "signup_existing"]
    # The registered account is untouched; the new one cannot sign in before its link.
    assert (await drivers.login(registered, PASSWORD)).status_code == 200
    problem(await drivers.login(registered, "another passphrase"), 401, "auth.invalid_credentials")
    problem(await drivers.login(fresh, PASSWORD), 401, "auth.invalid_credentials")


async def test_the_sign_up_link_needs_the_password_chosen_and_works_once(drivers: DriverApi) -> None:
    email = new_email()
    assert (await signup(drivers, email)).status_code == 202
    token = link_token((await sign_up_mails(drivers.maker, email))[-1])
    verify = "/api/v1/auth/verify"
    for body in (
        {"token": token, "password": "not the one chosen"},
        {"token": "garbage", "password": PASSWORD},
        {"token": token[:-2] + "xx", "password": PASSWORD},
    ):
        problem(await drivers.client.post(verify, json=body), 400, "auth.invalid_verification")
    r = await drivers.client.post(verify, json={"token": token, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert (await drivers.client.get("/api/v1/me", headers=bearer(r.json()["accessToken"]))).status_code == 200
    problem(
        await drivers.client.post(verify, json={"token": token, "password": PASSWORD}), 400, "auth.invalid_verification"
    )
    # A day later a fresh link has expired.
    other = new_email()
    await signup(drivers, other)
    late = link_token((await sign_up_mails(drivers.maker, other))[-1])
    drivers.clock.advance(hours=24, seconds=1)
    problem(
        await drivers.client.post(verify, json={"token": late, "password": PASSWORD}), 400, "auth.invalid_verification"
    )


async def test_a_strangers_sign_up_for_my_address_cannot_set_my_password(drivers: DriverApi) -> None:
    email = new_email()
    await signup(drivers, email, "the strangers password")
    strangers_link = link_token((await sign_up_mails(drivers.maker, email))[-1])
    # The owner signs up too; the owner's link with the owner's password works.
    pair = await drivers.sign_up(email, PASSWORD)
    assert (await drivers.client.get("/api/v1/me", headers=bearer(pair["accessToken"]))).status_code == 200
    r = await drivers.client.post(
        "/api/v1/auth/verify", json={"token": strangers_link, "password": "the strangers password"}
    )
    problem(r, 400, "auth.invalid_verification")
    problem(await drivers.login(email, "the strangers password"), 401, "auth.invalid_credentials")


async def test_sign_up_checks_the_email_and_the_password_policy(drivers: DriverApi) -> None:
    email = new_email()
    cases = [
        ({"email": "not-an-email", "password": PASSWORD}, "user.invalid_email", "email"),
        ({"email": email, "password": "short"}, "user.weak_password", "password"),
        ({"email": email, "password": email.upper()}, "user.password_is_email", "password"),
        ({"email": email, "password": "x" * 1025}, "user.password_too_long", "password"),
    ]
    for body, code, field in cases:
        r = await drivers.client.post("/api/v1/auth/signup", json=body)
        problem(r, 422, code, field=field)
    r = await drivers.client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "role": "operator"}
    )
    problem(r, 422, "request.invalid", field="role")
    # Nothing was created along the way.
    problem(await drivers.login(email, PASSWORD), 401, "auth.invalid_credentials")


async def test_refresh_rotates_and_the_new_pair_works(drivers: DriverApi) -> None:
    first = await drivers.sign_up(new_email(), PASSWORD)
    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert (await drivers.client.get("/api/v1/me", headers=bearer(second["accessToken"]))).status_code == 200
    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    problem(r, 401, "auth.refresh_reused")


async def test_logout_ends_that_sign_in_only(drivers: DriverApi) -> None:
    email = new_email()
    phone = await drivers.sign_up(email, PASSWORD)
    r = await drivers.login(email, PASSWORD)
    tablet = r.json()

    r = await drivers.client.post("/api/v1/auth/logout", json={"refreshToken": phone["refreshToken"]})
    assert r.status_code == 204, r.text
    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": phone["refreshToken"]})
    problem(r, 401, "auth.invalid_token")
    # Logging out twice is harmless.
    r = await drivers.client.post("/api/v1/auth/logout", json={"refreshToken": phone["refreshToken"]})
    assert r.status_code == 204, r.text

    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": tablet["refreshToken"]})
    assert r.status_code == 200, r.text


async def test_logout_of_a_rotated_token_ends_the_whole_family(drivers: DriverApi) -> None:
    first = await drivers.sign_up(new_email(), PASSWORD)
    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    second = r.json()
    r = await drivers.client.post("/api/v1/auth/logout", json={"refreshToken": first["refreshToken"]})
    assert r.status_code == 204, r.text
    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": second["refreshToken"]})
    problem(r, 401, "auth.invalid_token")


async def test_logout_refuses_tokens_that_are_not_ours(drivers: DriverApi) -> None:
    forged = jwt.encode(
        {"sub": str(uuid.uuid4()), "jti": str(uuid.uuid4()), "typ": "refresh", "exp": 9999999999, "iat": 1},
        "not-our-key-0123456789abcdef-0123456789",
        algorithm="HS256",
    )
    for token in (forged, "garbage"):
        r = await drivers.client.post("/api/v1/auth/logout", json={"refreshToken": token})
        problem(r, 401, "auth.invalid_token")
    # An access token is not a refresh token.
    pair = await drivers.sign_up(new_email(), PASSWORD)
    r = await drivers.client.post("/api/v1/auth/logout", json={"refreshToken": pair["accessToken"]})
    problem(r, 401, "auth.invalid_token")


async def test_logout_everywhere_refuses_every_token_issued_before(drivers: DriverApi) -> None:
    email = new_email()
    phone = await drivers.sign_up(email, PASSWORD)
    tablet = (await drivers.login(email, PASSWORD)).json()
    other_user = await drivers.sign_up(new_email(), PASSWORD)

    r = await drivers.client.post("/api/v1/auth/logout-all", headers=bearer(phone["accessToken"]))
    assert r.status_code == 204, r.text

    for pair in (phone, tablet):
        r = await drivers.client.get("/api/v1/me", headers=bearer(pair["accessToken"]))
        problem(r, 401, "auth.token_revoked")
        r = await drivers.client.get("/api/v1/me/id-tokens", headers=bearer(pair["accessToken"]))
        problem(r, 401, "auth.token_revoked")
        r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
        problem(r, 401, "auth.invalid_token")
    # The revoked token cannot log out everywhere again either.
    r = await drivers.client.post("/api/v1/auth/logout-all", headers=bearer(phone["accessToken"]))
    problem(r, 401, "auth.token_revoked")

    # Signing in again works, with the next token version; other users are untouched.
    r = await drivers.login(email, PASSWORD)
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert jwt.decode(fresh["accessToken"], options={"verify_signature": False})["ver"] == 1
    assert (await drivers.client.get("/api/v1/me", headers=bearer(fresh["accessToken"]))).status_code == 200
    assert (await drivers.client.get("/api/v1/me", headers=bearer(other_user["accessToken"]))).status_code == 200


async def test_logout_everywhere_needs_a_signed_in_caller(drivers: DriverApi) -> None:
    problem(await drivers.client.post("/api/v1/auth/logout-all"), 401, "auth.unauthenticated")
    r = await drivers.client.post("/api/v1/auth/logout-all", headers=bearer("not-a-jwt"))
    problem(r, 401, "auth.invalid_token")


async def test_an_access_token_with_a_tampered_version_is_refused(drivers: DriverApi) -> None:
    pair = await drivers.sign_up(new_email(), PASSWORD)
    claims = jwt.decode(pair["accessToken"], options={"verify_signature": False})
    for version in (1, "0"):
        token = jwt.encode({**claims, "ver": version}, drivers.settings.auth.secret_key, algorithm="HS256")
        r = await drivers.client.get("/api/v1/me", headers=bearer(token))
        problem(r, 401, "auth.token_revoked" if version == 1 else "auth.invalid_token")
    # Tokens from before token versions (no "ver") count as version 0.
    legacy = jwt.encode(
        {k: v for k, v in claims.items() if k != "ver"}, drivers.settings.auth.secret_key, algorithm="HS256"
    )
    assert (await drivers.client.get("/api/v1/me", headers=bearer(legacy))).status_code == 200


async def test_password_change_needs_the_current_password_and_revokes_everything_else(drivers: DriverApi) -> None:
    email = new_email()
    phone = await drivers.sign_up(email, PASSWORD)
    tablet = (await drivers.login(email, PASSWORD)).json()
    url, headers = "/api/v1/me/password", bearer(phone["accessToken"])
    new_password = "a much better passphrase"

    r = await drivers.client.post(
        url, json={"currentPassword": "wrong password!", "newPassword": new_password}, headers=headers
    )
    problem(r, 403, "auth.wrong_password", field="currentPassword")
    r = await drivers.client.post(url, json={"currentPassword": PASSWORD, "newPassword": "short"}, headers=headers)
    problem(r, 422, "user.weak_password", field="newPassword")
    r = await drivers.client.post(url, json={"currentPassword": PASSWORD, "newPassword": email}, headers=headers)
    problem(r, 422, "user.password_is_email", field="newPassword")
    r = await drivers.client.post(
        url, json={"currentPassword": PASSWORD, "newPassword": new_password, "x": 1}, headers=headers
    )
    problem(r, 422, "request.invalid", field="x")
    problem(
        await drivers.client.post(url, json={"currentPassword": PASSWORD, "newPassword": new_password}),
        401,
        "auth.unauthenticated",
    )
    # Nothing changed so far.
    assert (await drivers.client.get("/api/v1/me", headers=headers)).status_code == 200

    r = await drivers.client.post(url, json={"currentPassword": PASSWORD, "newPassword": new_password}, headers=headers)
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert (await drivers.client.get("/api/v1/me", headers=bearer(fresh["accessToken"]))).status_code == 200
    r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": fresh["refreshToken"]})
    assert r.status_code == 200, r.text

    for pair in (phone, tablet):
        problem(await drivers.client.get("/api/v1/me", headers=bearer(pair["accessToken"])), 401, "auth.token_revoked")
        r = await drivers.client.post("/api/v1/auth/refresh", json={"refreshToken": pair["refreshToken"]})
        problem(r, 401, "auth.invalid_token")
    problem(await drivers.login(email, PASSWORD), 401, "auth.invalid_credentials")
    assert (await drivers.login(email, new_password)).status_code == 200


async def test_the_clock_starts_real(drivers: DriverApi) -> None:
    assert abs((drivers.clock() - datetime.now(UTC)).total_seconds()) < 60
