"""Failed sign-ins are limited per account (5 per 15 minutes) and per client address (20);
the counters are in the database and the clock is the test's, never the wall's."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select

from app.drivers.models import LoginAttempt
from app.drivers.throttle import account_key, address_key
from tests.e2e.drivers.conftest import DriverApi
from tests.e2e.test_api import bearer, problem

PASSWORD = "correct horse battery"
WRONG = "wrong password, again"


def new_email() -> str:
    return f"rl-{uuid.uuid4().hex[:8]}@example.se"


def new_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def rate_limited(r: httpx.Response) -> int:
    problem(r, 429, "auth.rate_limited")
    return int(r.headers["retry-after"])


async def failures(drivers: DriverApi, key: str) -> int | None:
    async with drivers.maker() as db:
        row = await db.scalar(select(LoginAttempt).where(LoginAttempt.key == key))
    return None if row is None else row.failures


async def test_five_failures_lock_the_account_for_the_rest_of_the_window(drivers: DriverApi) -> None:
    email = new_email()
    await drivers.sign_up(email, PASSWORD)
    # From five addresses, so only the account counter can be what stops the sixth.
    for _ in range(5):
        problem(await drivers.login(email, WRONG, address=new_address()), 401, "auth.invalid_credentials")
    # Even the right password, from a fresh address, is refused now: a guess is not checked.
    assert rate_limited(await drivers.login(email, PASSWORD, address=new_address())) == 15 * 60
    drivers.clock.advance(minutes=10)
    assert rate_limited(await drivers.login(email.upper(), PASSWORD, address=new_address())) == 5 * 60
    drivers.clock.advance(minutes=5)
    r = await drivers.login(email, PASSWORD, address=new_address())
    assert r.status_code == 200, r.text
    assert await failures(drivers, account_key(email)) is None


async def test_an_unknown_account_is_limited_like_a_real_one(drivers: DriverApi) -> None:
    email = new_email()  # never signed up: the 429 must not tell the two apart
    for _ in range(5):
        problem(await drivers.login(email, WRONG, address=new_address()), 401, "auth.invalid_credentials")
    rate_limited(await drivers.login(email, WRONG, address=new_address()))


async def test_a_success_clears_the_account_failures_and_counts_nothing(drivers: DriverApi) -> None:
    email, address = new_email(), new_address()
    await drivers.sign_up(email, PASSWORD, address=address)
    for _ in range(4):
        problem(await drivers.login(email, WRONG, address=address), 401, "auth.invalid_credentials")
    assert await failures(drivers, account_key(email)) == 4
    assert (await drivers.login(email, PASSWORD, address=address)).status_code == 200
    assert await failures(drivers, account_key(email)) is None
    assert await failures(drivers, address_key(address)) == 4
    # Five more failures are allowed before the account locks again.
    for _ in range(5):
        problem(await drivers.login(email, WRONG, address=new_address()), 401, "auth.invalid_credentials")
    rate_limited(await drivers.login(email, PASSWORD, address=new_address()))


async def test_successful_sign_ins_are_never_limited(drivers: DriverApi) -> None:
    email, address = new_email(), new_address()
    await drivers.sign_up(email, PASSWORD, address=address)
    for _ in range(25):  # more than both limits
        r = await drivers.login(email, PASSWORD, address=address)
        assert r.status_code == 200, r.text
    assert await failures(drivers, account_key(email)) is None
    assert not await failures(drivers, address_key(address))


async def test_twenty_failures_from_one_address_lock_that_address(drivers: DriverApi) -> None:
    address = new_address()
    victim = new_email()
    await drivers.sign_up(victim, PASSWORD, address=new_address())
    for _ in range(5):  # four accounts, five guesses each: no account is over its limit
        emails = [new_email() for _ in range(4)]
        for email in emails:
            problem(await drivers.login(email, WRONG, address=address), 401, "auth.invalid_credentials")
    retry_after = rate_limited(await drivers.login(victim, PASSWORD, address=address))
    assert 0 < retry_after <= 15 * 60
    # Other addresses, and the victim's account, are unaffected.
    assert (await drivers.login(victim, PASSWORD, address=new_address())).status_code == 200
    drivers.clock.advance(minutes=15)
    assert (await drivers.login(victim, PASSWORD, address=address)).status_code == 200


async def test_parallel_guesses_cannot_overrun_the_limit(drivers: DriverApi) -> None:
    email = new_email()
    await drivers.sign_up(email, PASSWORD)
    answers = await asyncio.gather(*(drivers.login(email, WRONG, address=new_address()) for _ in range(12)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [401] * 5 + [429] * 7, statuses


async def test_wrong_current_passwords_count_like_failed_sign_ins(drivers: DriverApi) -> None:
    email = new_email()
    pair = await drivers.sign_up(email, PASSWORD)
    body = {"currentPassword": WRONG, "newPassword": "another fine passphrase"}
    for _ in range(5):
        r = await drivers.client.post("/api/v1/me/password", json=body, headers=bearer(pair["accessToken"]))
        problem(r, 403, "auth.wrong_password")
    body["currentPassword"] = PASSWORD
    r = await drivers.client.post("/api/v1/me/password", json=body, headers=bearer(pair["accessToken"]))
    assert rate_limited(r) == 15 * 60
    rate_limited(await drivers.login(email, PASSWORD, address=new_address()))


async def test_taken_emails_at_sign_up_count_against_the_address(drivers: DriverApi) -> None:
    address, email = new_address(), new_email()
    await drivers.sign_up(email, PASSWORD, address=address)
    client = drivers.at(address)
    for _ in range(20):
        r = await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        problem(r, 409, "auth.email_taken")
    rate_limited(await client.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD}))
    # A successful sign-up counted nothing: the first one above left the counter at zero.
    assert await failures(drivers, address_key(address)) == 21
