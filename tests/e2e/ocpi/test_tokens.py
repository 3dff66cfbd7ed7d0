"""Tokens module, receiver side: an eMSP pushes its tokens (PUT, PATCH) and reads them back
(GET), only under its own parties and only in its own tenant; a bad body changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.settings import Settings
from app.roaming.models import OcpiToken
from tests.e2e.ocpi.recording_party import RecordingParty, recording_party, registered_partner
from tests.e2e.ocpi.ses_stack import SesStack, ses_stack


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[SesStack]:
    async with ses_stack(settings) as running:
        yield running


@pytest.fixture(scope="module")
async def party() -> AsyncIterator[RecordingParty]:
    async with recording_party() as running:
        yield running


def token(uid: str, **changes: Any) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "EMP",
        "uid": uid,
        "type": "RFID",
        "contract_id": f"NL-EMP-C{uid[-6:]}",
        "visual_number": "DF000-2001-8999",
        "issuer": "Test eMSP",
        "group_id": "DF000-2001-8999",
        "valid": True,
        "whitelist": "ALLOWED",
        "language": "nl",
        "default_profile_type": "GREEN",
        "energy_contract": {"supplier_name": "Greenpower", "contract_id": "0123456789"},
        "last_updated": "2026-12-01T10:00:00Z",
        **changes,
    }


async def stored(stack: SesStack, uid: str) -> int:
    async with stack.maker() as db:
        return int(await db.scalar(select(func.count()).select_from(OcpiToken).where(OcpiToken.uid == uid)) or 0)


async def test_put_then_get_returns_the_token(stack: SesStack, party: RecordingParty) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        put = await http.put("/tokens/NL/EMP/012345678", json=token("012345678"))
        got = await http.get("/tokens/NL/EMP/012345678", params={"type": "RFID"})
    assert put.status_code == 200 and put.json()["status_code"] == 1000
    assert got.status_code == 200 and got.json()["status_code"] == 1000
    assert got.json()["data"] == {**token("012345678"), "last_updated": "2026-12-01T10:00:00.000Z"}


async def test_patch_changes_only_the_given_fields(stack: SesStack, party: RecordingParty) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        await http.put("/tokens/NL/EMP/PATCHME01", json=token("PATCHME01"))
        patched = await http.patch(
            "/tokens/NL/EMP/PATCHME01", json={"valid": False, "last_updated": "2026-12-02T10:00:00Z"}
        )
        no_date = await http.patch("/tokens/NL/EMP/PATCHME01", json={"whitelist": "NEVER"})
        bad = await http.patch(
            "/tokens/NL/EMP/PATCHME01", json={"whitelist": "SOMETIMES", "last_updated": "2026-12-03T10:00:00Z"}
        )
        got = (await http.get("/tokens/NL/EMP/PATCHME01")).json()["data"]
    assert patched.json()["status_code"] == 1000
    assert no_date.status_code == 400 and no_date.json()["status_code"] == 2001
    assert bad.status_code == 400 and bad.json()["status_code"] == 2001
    assert got["valid"] is False and got["whitelist"] == "ALLOWED"
    assert got["issuer"] == "Test eMSP" and got["last_updated"] == "2026-12-02T10:00:00.000Z"


async def test_patch_of_an_unknown_token_is_2004(stack: SesStack, party: RecordingParty) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        answer = await http.patch(
            "/tokens/NL/EMP/NOSUCH001", json={"valid": False, "last_updated": "2026-12-02T10:00:00Z"}
        )
        got = await http.get("/tokens/NL/EMP/NOSUCH001")
    assert answer.status_code == 404 and answer.json()["status_code"] == 2004
    assert got.status_code == 404 and got.json()["status_code"] == 2004


@pytest.mark.parametrize(
    ("uid", "body"),
    [
        ("BADBODY01", token("OTHERUID1")),  # the body names another token
        ("B" * 37, token("B" * 37)),  # uid longer than CiString(36)
        ("BADBODY02", token("BADBODY02", type="BARCODE")),
        ("BADBODY03", token("BADBODY03", whitelist="MAYBE")),
        ("BADBODY04", {k: v for k, v in token("BADBODY04").items() if k != "contract_id"}),
        ("BADBODY05", token("BADBODY05", valid="yes")),
        ("BADBODY06", token("BADBODY06", last_updated="yesterday")),
        ("BADBODY07", token("BADBODY07", issuer="x" * 65)),
        ("BADBODY08", token("BADBODY08", country_code="DE")),  # not the URL's party
        ("BADBODY09", token("BADBODY09", type="APP_USER")),  # the URL's type is RFID
        ("BADBODY10", ["not", "an", "object"]),
    ],
)
async def test_a_bad_body_is_2001_and_stores_nothing(
    stack: SesStack, party: RecordingParty, uid: str, body: Any
) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        answer = await http.put(f"/tokens/NL/EMP/{uid}", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["status_code"] == 2001 and answer.json()["data"] is None
    assert await stored(stack, uid) == 0


async def test_a_body_that_is_no_json_is_2001(stack: SesStack, party: RecordingParty) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        answer = await http.put(
            "/tokens/NL/EMP/NOTJSON01", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        bad_type = await http.get("/tokens/NL/EMP/NOTJSON01", params={"type": "BARCODE"})
    assert answer.status_code == 400 and answer.json()["status_code"] == 2001
    assert bad_type.status_code == 400 and bad_type.json()["status_code"] == 2001
    assert await stored(stack, "NOTJSON01") == 0


async def test_another_partys_path_is_404(stack: SesStack, party: RecordingParty) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        put = await http.put("/tokens/DE/OTH/OTHERS001", json=token("OTHERS001", country_code="DE", party_id="OTH"))
        got = await http.get("/tokens/DE/OTH/OTHERS001")
    assert put.status_code == 404 and got.status_code == 404
    assert await stored(stack, "OTHERS001") == 0


async def test_the_type_parameter_keeps_tokens_apart(stack: SesStack, party: RecordingParty) -> None:
    _, auth = await registered_partner(stack.maker, await stack.operator(), party)
    async with stack.http(auth) as http:
        app_user = await http.put(
            "/tokens/NL/EMP/TYPED0001", params={"type": "APP_USER"}, json=token("TYPED0001", type="APP_USER")
        )
        as_rfid = await http.get("/tokens/NL/EMP/TYPED0001")
        as_app = await http.get("/tokens/NL/EMP/TYPED0001", params={"type": "APP_USER"})
    assert app_user.json()["status_code"] == 1000
    assert as_rfid.status_code == 404 and as_rfid.json()["status_code"] == 2004
    assert as_app.json()["data"]["type"] == "APP_USER"


async def test_a_partner_of_another_tenant_never_sees_the_token(stack: SesStack, party: RecordingParty) -> None:
    ours, auth = await registered_partner(stack.maker, await stack.operator(), party)
    theirs, other_auth = await registered_partner(stack.maker, await stack.operator("TOK"), party)
    async with stack.http(auth) as http:
        await http.put("/tokens/NL/EMP/TENANT001", json=token("TENANT001"))
    async with stack.http(other_auth) as http:
        unseen = await http.get("/tokens/NL/EMP/TENANT001")
        patched = await http.patch(
            "/tokens/NL/EMP/TENANT001", json={"valid": False, "last_updated": "2026-12-05T00:00:00Z"}
        )
        own = await http.put("/tokens/NL/EMP/TENANT001", json=token("TENANT001", whitelist="NEVER"))
    async with stack.http(auth) as http:
        mine = (await http.get("/tokens/NL/EMP/TENANT001")).json()["data"]
    assert unseen.status_code == 404 and unseen.json()["status_code"] == 2004
    assert patched.status_code == 404
    assert own.json()["status_code"] == 1000
    assert mine["valid"] is True and mine["whitelist"] == "ALLOWED"
    async with stack.maker() as db:
        rows = (await db.scalars(select(OcpiToken).where(OcpiToken.uid == "TENANT001"))).all()
    assert {(row.operator_id, row.partner_id) for row in rows} == {
        (ours.operator_id, ours.id),
        (theirs.operator_id, theirs.id),
    }


async def test_an_unknown_credentials_token_is_401(stack: SesStack) -> None:
    async with stack.http("Token bm9wZQ==") as http:
        answer = await http.get("/tokens/NL/EMP/012345678")
    assert answer.status_code == 401 and answer.json()["status_code"] == 2000
