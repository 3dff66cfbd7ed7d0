"""The operator API and the CLI refuse charger passwords that are short or guessable,
with their own codes, and register nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.chargers.models import ChargePoint
from app.core.security import charger_hash_is_current
from tests.e2e.test_api import OPS, Api, api, problem  # noqa: F401 (api: the module's fixture)
from tests.e2e.test_cli import clean_env, laddnat

pytestmark = pytest.mark.one_database


async def count_chargers(client: Api, identity: str) -> int:
    async with client.maker() as db:
        return int(await db.scalar(select(func.count()).where(ChargePoint.identity == identity)) or 0)


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "charger.weak_password"),
        ("x" * 41, "charger.weak_password"),
        ("abababababababab", "charger.predictable_password"),
        ("8301746529183746", "charger.predictable_password"),
    ],
)
async def test_the_api_refuses_a_short_or_guessable_password(api: Api, password: str, code: str) -> None:  # noqa: F811
    r = await api.client.post(
        f"{OPS}/chargers", json={"identity": "CP-PW-RULE", "password": password}, headers=api.operator_headers
    )
    body = problem(r, 422, code, field="password")
    assert body["detail"] != body["title"]  # says which rule and by how much
    assert await count_chargers(api, "CP-PW-RULE") == 0


async def test_the_api_stores_a_registered_password_as_hmac_sha256(api: Api) -> None:  # noqa: F811
    created = await api.register_charger()
    async with api.maker() as db:
        stored = await db.scalar(select(ChargePoint.password_hash).where(ChargePoint.identity == created["identity"]))
    assert stored is not None and charger_hash_is_current(stored)


@pytest.mark.subprocess
async def test_the_cli_refuses_a_guessable_password_in_one_line(database_url: str) -> None:
    env = clean_env(LADDNAT_DATABASE_URL=database_url)
    short, guessable = await asyncio.gather(
        laddnat("chargers", "add", "CP-CLI-PW1", "--password", "short-pw", env=env),
        laddnat("chargers", "add", "CP-CLI-PW2", "--password", "1111222211112222", env=env),
    )
    assert short.code == 1 and short.err_lines == ["laddnat: 8 characters; use 16 to 40 (charger.weak_password)"], (
        short.err
    )
    assert guessable.code == 1, guessable.err
    [line] = guessable.err_lines
    assert line.startswith("laddnat: 2 distinct characters") and line.endswith("(charger.predictable_password)")
