"""A driver's RFID cards and app tokens: linking, listing, removing, and never another's."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.drivers.id_tokens import IdTokenService
from app.drivers.models import IdToken
from app.operators.models import Operator
from tests.e2e.drivers.conftest import DriverApi
from tests.e2e.test_api import bearer, problem

PASSWORD = "correct horse battery"
URL = "/api/v1/me/id-tokens"


async def new_driver(drivers: DriverApi) -> dict[str, str]:
    pair = await drivers.sign_up(f"tok-{uuid.uuid4().hex[:8]}@example.se", PASSWORD)
    return bearer(pair["accessToken"])


def card() -> str:
    return uuid.uuid4().hex[:14].upper()


async def test_a_driver_links_lists_relabels_and_removes_a_card(drivers: DriverApi) -> None:
    alice = await new_driver(drivers)
    uid = card()
    r = await drivers.client.post(URL, json={"token": uid, "type": "ISO14443", "label": "Blue card"}, headers=alice)
    assert r.status_code == 201, r.text
    linked = r.json()
    assert (linked["token"], linked["type"], linked["status"], linked["label"]) == (
        uid,
        "ISO14443",
        "Accepted",
        "Blue card",
    )
    assert "userId" not in linked

    r = await drivers.client.get(URL, headers=alice)
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["items"]] == [linked["id"]]
    assert r.json()["total"] == 1

    r = await drivers.client.post(URL, json={"token": uid, "label": "Work"}, headers=alice)
    assert r.status_code == 201, r.text
    assert (r.json()["id"], r.json()["label"]) == (linked["id"], "Work")

    r = await drivers.client.delete(f"{URL}/{linked['id']}", headers=alice)
    assert r.status_code == 204, r.text
    assert (await drivers.client.get(URL, headers=alice)).json()["items"] == []
    problem(await drivers.client.delete(f"{URL}/{linked['id']}", headers=alice), 404, "id_token.not_found")


async def test_another_drivers_token_is_not_found_and_cannot_be_taken(drivers: DriverApi) -> None:
    alice, bob = await new_driver(drivers), await new_driver(drivers)
    uid = card()
    r = await drivers.client.post(URL, json={"token": uid, "type": "ISO15693"}, headers=alice)
    alices = r.json()

    assert (await drivers.client.get(URL, headers=bob)).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    problem(await drivers.client.delete(f"{URL}/{alices['id']}", headers=bob), 404, "id_token.not_found")
    problem(await drivers.client.delete(f"{URL}/{uuid.uuid4()}", headers=bob), 404, "id_token.not_found")
    r = await drivers.client.post(URL, json={"token": uid, "type": "ISO15693", "label": "mine now"}, headers=bob)
    problem(r, 409, "id_token.taken", field="token")

    r = await drivers.client.get(URL, headers=alice)
    assert [(t["id"], t["label"]) for t in r.json()["items"]] == [(alices["id"], None)]


async def operator_card(drivers: DriverApi, uid: str, *, user_id: uuid.UUID | None = None) -> IdToken:
    """A card an operator company registered (as its API does: ``operator_id`` set)."""
    async with drivers.maker() as db:
        operator = await db.scalar(select(Operator).where(Operator.party_id == "CRD"))
        if operator is None:  # one company for the module's cards
            operator = Operator(name="Card CPO", country_code="SE", party_id="CRD")
            db.add(operator)
            await db.flush()
        row = IdToken(token=uid, type="ISO14443", operator_id=operator.id, user_id=user_id, label="fleet")
        db.add(row)
        await db.commit()
        return row


async def stored(drivers: DriverApi, uid: str) -> IdToken | None:
    async with drivers.maker() as db:
        return await db.scalar(select(IdToken).where(IdToken.token == uid))


async def test_an_operators_card_cannot_be_claimed_by_its_number(drivers: DriverApi) -> None:
    uid = card()
    registered = await operator_card(drivers, uid)
    alice = await new_driver(drivers)
    r = await drivers.client.post(URL, json={"token": uid, "label": "mine now"}, headers=alice)
    problem(r, 409, "id_token.operator_card", field="token")
    assert (await drivers.client.get(URL, headers=alice)).json()["total"] == 0
    row = await stored(drivers, uid)
    assert row is not None and (row.id, row.user_id, row.label) == (registered.id, None, "fleet")


async def test_an_unowned_card_from_before_operators_owned_cards_cannot_be_claimed(drivers: DriverApi) -> None:
    uid = card()
    async with drivers.maker() as db:
        legacy = await IdTokenService(db).create(uid, type="ISO14443", group_token="FLEET-1", label="spare")
    alice = await new_driver(drivers)
    problem(await drivers.client.post(URL, json={"token": uid}, headers=alice), 409, "id_token.operator_card")
    row = await stored(drivers, uid)
    assert row is not None and (row.id, row.user_id) == (legacy.id, None)


async def test_removing_an_operators_card_given_to_me_unlinks_it_and_keeps_the_operators_record(
    drivers: DriverApi,
) -> None:
    uid = card()
    pair = await drivers.sign_up(f"tok-{uuid.uuid4().hex[:8]}@example.se", PASSWORD)
    alice = bearer(pair["accessToken"])
    me = (await drivers.client.get("/api/v1/me", headers=alice)).json()
    given = await operator_card(drivers, uid, user_id=uuid.UUID(me["id"]))
    listed = (await drivers.client.get(URL, headers=alice)).json()["items"]
    assert [t["id"] for t in listed] == [str(given.id)]

    r = await drivers.client.delete(f"{URL}/{given.id}", headers=alice)
    assert r.status_code == 204, r.text
    assert (await drivers.client.get(URL, headers=alice)).json()["total"] == 0
    row = await stored(drivers, uid)
    assert row is not None and (row.operator_id, row.user_id, row.status) == (given.operator_id, None, "Accepted")


async def test_app_tokens_and_contract_ids_can_be_linked(drivers: DriverApi) -> None:
    alice = await new_driver(drivers)
    for kind, token in (("Central", f"APP{uuid.uuid4().hex[:12]}"), ("eMAID", f"SE-LAD-C{uuid.uuid4().hex[:8]}")):
        r = await drivers.client.post(URL, json={"token": token, "type": kind}, headers=alice)
        assert (r.status_code, r.json()["type"]) == (201, kind), r.text
    assert (await drivers.client.get(URL, headers=alice)).json()["total"] == 2


async def test_bad_id_tokens_are_refused(drivers: DriverApi) -> None:
    alice = await new_driver(drivers)
    cases = [
        ({"token": ""}, "request.invalid", "token"),
        ({"token": "X" * 37}, "request.invalid", "token"),
        ({"token": card(), "type": "NoAuthorization"}, "request.invalid", "type"),
        ({"token": card(), "userId": str(uuid.uuid4())}, "request.invalid", "userId"),
        ({"token": " AB12 "}, "id_token.invalid", "token"),
    ]
    for body, code, field in cases:
        problem(await drivers.client.post(URL, json=body, headers=alice), 422, code, field=field)
    assert (await drivers.client.get(URL, headers=alice)).json()["total"] == 0


async def test_id_tokens_need_a_signed_in_caller(drivers: DriverApi) -> None:
    problem(await drivers.client.get(URL), 401, "auth.unauthenticated")
    problem(await drivers.client.post(URL, json={"token": card()}), 401, "auth.unauthenticated")
    problem(await drivers.client.delete(f"{URL}/{uuid.uuid4()}"), 401, "auth.unauthenticated")
