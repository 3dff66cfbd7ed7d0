"""A driver's RFID cards and app tokens: linking, listing, removing, and never another's."""

from __future__ import annotations

import uuid

from app.drivers.service import IdTokenService
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


async def test_an_unowned_card_the_operator_registered_can_be_linked_once(drivers: DriverApi) -> None:
    uid = card()
    async with drivers.maker() as db:
        registered = await IdTokenService(db).create(uid, type="ISO14443", group_token="FLEET-1", label="spare")
    alice, bob = await new_driver(drivers), await new_driver(drivers)

    r = await drivers.client.post(URL, json={"token": uid, "type": "eMAID", "label": "from the desk"}, headers=alice)
    assert r.status_code == 201, r.text
    # The operator's row, now Alice's; its type stays what the operator registered.
    assert (r.json()["id"], r.json()["type"], r.json()["label"]) == (str(registered.id), "ISO14443", "from the desk")
    problem(await drivers.client.post(URL, json={"token": uid}, headers=bob), 409, "id_token.taken")


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
