"""Failed sign-ins back off per account and client address together (5 free, then 30 s
doubling to 15 min) and are limited per address (20 per 15 minutes); sign-ups are limited
per address (10 an hour). The counters are in the database and the clock is the test's."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select

from app.drivers.models import LoginAttempt
from app.drivers.throttle import address_key, login_key, signup_key
from tests.e2e.drivers.conftest import DriverApi, new_address
from tests.e2e.test_api import bearer, problem

PASSWORD = "correct horse battery"
WRONG = "wrong password, again"


def new_email() -> str:
    return f"rl-{uuid.uuid4().hex[:8]}@example.se"


def rate_limited(r: httpx.Response) -> int:
    problem(r, 429, "auth.rate_limited")
    return int(r.headers["retry-after"])


async def failures(drivers: DriverApi, key: str) -> int | None:
    async with drivers.maker() as db:
        row = await db.scalar(select(LoginAttempt).where(LoginAttempt.key == key))
    return None if row is None else row.failures


async def test_failures_back_off_for_that_address_while_the_owner_signs_in_from_another(drivers: DriverApi) -> None:
    email, stranger = new_email(), new_address()
    await drivers.sign_up(email, PASSWORD)
    for _ in range(5):
        problem(await drivers.login(email, WRONG, address=stranger), 401, "auth.invalid_credentials")
    # The stranger waits, even with the right password: a guess is not checked...
    assert rate_limited(await drivers.login(email, PASSWORD, address=stranger)) == 30
    # ...but the account is not locked: its owner signs in from elsewhere.
    r = await drivers.login(email.upper(), PASSWORD, address=new_address())
    assert r.status_code == 200, r.text
    # Each further failure doubles the wait; a refused attempt does not lengthen it.
    drivers.clock.advance(seconds=30)
    problem(await drivers.login(email, WRONG, address=stranger), 401, "auth.invalid_credentials")
    assert rate_limited(await drivers.login(email, WRONG, address=stranger)) == 60
    drivers.clock.advance(seconds=59)
    assert rate_limited(await drivers.login(email, WRONG, address=stranger)) == 1
    drivers.clock.advance(seconds=1)
    r = await drivers.login(email, PASSWORD, address=stranger)
    assert r.status_code == 200, r.text
    assert await failures(drivers, login_key(email, stranger)) is None


async def test_the_back_off_stops_doubling_at_fifteen_minutes(drivers: DriverApi) -> None:
    email, address = new_email(), new_address()
    waits = []
    for _ in range(12):
        r = await drivers.login(email, WRONG, address=address)
        if r.status_code == 429:
            waits.append(rate_limited(r))
            drivers.clock.advance(seconds=waits[-1])
            r = await drivers.login(email, WRONG, address=address)
        problem(r, 401, "auth.invalid_credentials")
    assert waits == [30, 60, 120, 240, 480, 900, 900], waits


async def test_an_unknown_account_is_limited_like_a_real_one(drivers: DriverApi) -> None:
    email, address = new_email(), new_address()  # never signed up: the 429 must not tell the two apart
    for _ in range(5):
        problem(await drivers.login(email, WRONG, address=address), 401, "auth.invalid_credentials")
    assert rate_limited(await drivers.login(email, WRONG, address=address)) == 30


async def test_a_success_clears_the_failures_and_counts_nothing(drivers: DriverApi) -> None:
    email, address = new_email(), new_address()
    await drivers.sign_up(email, PASSWORD, address=address)
    for _ in range(4):
        problem(await drivers.login(email, WRONG, address=address), 401, "auth.invalid_credentials")
    assert await failures(drivers, login_key(email, address)) == 4
    assert (await drivers.login(email, PASSWORD, address=address)).status_code == 200
    assert await failures(drivers, login_key(email, address)) is None
    assert await failures(drivers, address_key(address)) == 4
    # Five more failures are free before the back-off starts again.
    for _ in range(5):
        problem(await drivers.login(email, WRONG, address=address), 401, "auth.invalid_credentials")
    rate_limited(await drivers.login(email, PASSWORD, address=address))


async def test_successful_sign_ins_are_never_limited(drivers: DriverApi) -> None:
    email, address = new_email(), new_address()
    await drivers.sign_up(email, PASSWORD, address=address)
    for _ in range(25):  # more than both limits
        r = await drivers.login(email, PASSWORD, address=address)
        assert r.status_code == 200, r.text
    assert await failures(drivers, login_key(email, address)) is None
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
    email, address = new_email(), new_address()
    await drivers.sign_up(email, PASSWORD)
    answers = await asyncio.gather(*(drivers.login(email, WRONG, address=address) for _ in range(12)))
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
    assert rate_limited(r) == 30
    assert (await drivers.login(email, PASSWORD, address=new_address())).status_code == 200


async def test_sign_ups_are_limited_per_address_whatever_the_email(drivers: DriverApi) -> None:
    address, registered = new_address(), new_email()
    await drivers.sign_up(registered, PASSWORD)
    client = drivers.at(address)
    for n in range(10):
        email = registered if n % 2 else new_email()
        r = await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert r.status_code == 202, r.text
    r = await client.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD})
    problem(r, 429, "auth.signup_rate_limited")
    assert 0 < int(r.headers["retry-after"]) <= 3600
    assert await failures(drivers, signup_key(address)) == 11
    # Another address signs up; an hour later this one does again.
    r = await drivers.at(new_address()).post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD})
    assert r.status_code == 202, r.text
    drivers.clock.advance(hours=1)
    r = await client.post("/api/v1/auth/signup", json={"email": new_email(), "password": PASSWORD})
    assert r.status_code == 202, r.text
