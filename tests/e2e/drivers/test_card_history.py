"""A session started with a card belongs to whoever held the card then, not to whoever
holds its number now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.chargers.service import ChargerRef, ChargerService
from app.sessions.models import Transaction
from app.sessions.service import TransactionService
from app.sessions.types import StartRequest, StopRequest, TransactionEventIn
from tests.e2e.drivers.conftest import DriverApi
from tests.e2e.test_api import bearer, problem

PASSWORD = "correct horse battery"
URL = "/api/v1/me/id-tokens"


async def new_driver(drivers: DriverApi) -> dict[str, str]:
    pair = await drivers.sign_up(f"hist-{uuid.uuid4().hex[:8]}@example.se", PASSWORD)
    return bearer(pair["accessToken"])


async def charge(drivers: DriverApi, charger: ChargerRef, uid: str, at: datetime) -> uuid.UUID:
    """One finished session with ``uid`` on the charger, as its StartTransaction and
    StopTransaction would record it."""
    async with drivers.maker() as db:
        service = TransactionService(db, drivers.app.state.bus)
        started = await service.start(charger, StartRequest(connector=1, token=uid, meter_start_wh=0.0, at=at))
    async with drivers.maker() as db:
        service = TransactionService(db, drivers.app.state.bus)
        await service.stop(
            charger,
            StopRequest(number=started.number, meter_stop_wh=2000.0, at=at + timedelta(minutes=10), token=uid),
        )
        tx_id = await db.scalar(select(Transaction.id).where(Transaction.number == started.number))
    assert tx_id is not None
    return tx_id


async def session_ids(drivers: DriverApi, headers: dict[str, str]) -> list[str]:
    r = await drivers.client.get("/api/v1/sessions", headers=headers)
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["items"]]


async def test_a_cards_past_sessions_stay_with_the_driver_who_held_it(drivers: DriverApi) -> None:
    identity = f"HIST-{uuid.uuid4().hex[:8].upper()}"
    async with drivers.maker() as db:
        cp = await ChargerService(db, drivers.app.state.bus).register(identity, "hist-charger-pw-0001", evse_count=1)
        await db.commit()
        charger = ChargerRef(id=cp.id, identity=identity)
    alice, bob = await new_driver(drivers), await new_driver(drivers)
    uid = uuid.uuid4().hex[:14].upper()
    r = await drivers.client.post(URL, json={"token": uid}, headers=alice)
    assert r.status_code == 201, r.text
    card_id = r.json()["id"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    alices = await charge(drivers, charger, uid, start)
    assert await session_ids(drivers, alice) == [str(alices)]

    # Alice removes the card; Bob links the same number.
    assert (await drivers.client.delete(f"{URL}/{card_id}", headers=alice)).status_code == 204
    assert (await drivers.client.post(URL, json={"token": uid}, headers=bob)).status_code == 201

    # Bob sees nothing of Alice's past, by list, detail, receipt or stop; Alice keeps it.
    assert await session_ids(drivers, bob) == []
    for path in (f"/api/v1/sessions/{alices}", f"/api/v1/sessions/{alices}/receipt"):
        problem(await drivers.client.get(path, headers=bob), 404, "session.not_found")
    problem(await drivers.client.post(f"/api/v1/sessions/{alices}/stop", headers=bob), 404, "session.not_found")
    assert await session_ids(drivers, alice) == [str(alices)]
    r = await drivers.client.get(f"/api/v1/sessions/{alices}", headers=alice)
    assert (r.status_code, r.json()["energyWh"]) == (200, 2000.0), r.text

    # Bob's own session with the card is his alone.
    bobs = await charge(drivers, charger, uid, start + timedelta(days=1))
    assert await session_ids(drivers, bob) == [str(bobs)]
    assert await session_ids(drivers, alice) == [str(alices)]


async def test_a_201_session_belongs_to_the_cards_holder_when_it_started(drivers: DriverApi) -> None:
    identity = f"HIST-{uuid.uuid4().hex[:8].upper()}"
    async with drivers.maker() as db:
        cp = await ChargerService(db, drivers.app.state.bus).register(identity, "hist-charger-pw-0001", evse_count=1)
        await db.commit()
        charger = ChargerRef(id=cp.id, identity=identity)
    alice, bob = await new_driver(drivers), await new_driver(drivers)
    uid = uuid.uuid4().hex[:14].upper()
    card_id = (await drivers.client.post(URL, json={"token": uid}, headers=alice)).json()["id"]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    events = [
        TransactionEventIn(
            event_type="Started",
            charger_transaction_id="T-1",
            seq_no=0,
            at=at,
            trigger_reason="Authorized",
            evse=1,
            connector=1,
            token=uid,
            token_type="ISO14443",
        ),
        TransactionEventIn(
            event_type="Ended",
            charger_transaction_id="T-1",
            seq_no=1,
            at=at + timedelta(minutes=5),
            trigger_reason="StopAuthorized",
            stopped_reason="Local",
        ),
    ]
    for event in events:
        async with drivers.maker() as db:
            await TransactionService(db, drivers.app.state.bus).transaction_event(charger, event)
    assert (await drivers.client.delete(f"{URL}/{card_id}", headers=alice)).status_code == 204
    assert (await drivers.client.post(URL, json={"token": uid}, headers=bob)).status_code == 201
    assert len(await session_ids(drivers, alice)) == 1
    assert await session_ids(drivers, bob) == []
