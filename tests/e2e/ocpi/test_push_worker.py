"""The OCPI push outbox against a partner's real HTTP server: delivered in order per object,
superseded when a newer state of the same object waits, retried with back-off while the
partner is down (on a hand-moved clock), given up after the last attempt, and never sent
into our own network unless that is allowed."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.database import create_engine, create_sessionmaker, utcnow
from app.core.settings import OcpiSettings, Settings
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.push import MAX_ATTEMPTS, PushWorker, backoff, enqueue
from tests.e2e.ocpi.recording_party import RecordingParty, recording_party, registered_partner
from tests.support import first_operator

ALLOW_LOOPBACK = OcpiSettings(allow_private_partners=True, partner_timeout_s=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclasses.dataclass
class World:
    maker: object
    party: RecordingParty
    partner: OcpiPartner
    clock: Clock


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    async with maker() as db:
        operator_id = await first_operator(db)
    async with recording_party() as party:
        partner, _ = await registered_partner(maker, operator_id, party)
        yield World(maker, party, partner, Clock())
    await engine.dispose()


async def push(world: World, key: str, body: dict[str, object], method: str = "PATCH") -> None:
    async with world.maker() as db:  # type: ignore[attr-defined]
        partner = await db.get(OcpiPartner, world.partner.id)
        await enqueue(
            db,
            partner,
            module="locations",
            method=method,
            url=world.party.module_url("locations") + f"/SE/LAD/L1/{key}",
            body=body,
            object_key=f"evse:{key}",
            now=world.clock(),
        )
        await db.commit()


async def outcomes(world: World) -> list[tuple[str | None, int]]:
    async with world.maker() as db:  # type: ignore[attr-defined]
        rows = await db.scalars(select(OcpiPush).where(OcpiPush.partner_id == world.partner.id).order_by(OcpiPush.id))
        return [(p.outcome, p.attempts) for p in rows]


async def test_a_newer_state_supersedes_a_waiting_one_and_objects_keep_their_order(world: World) -> None:
    await push(world, "E1", {"status": "CHARGING"}, method="PUT")
    await push(world, "E1", {"status": "AVAILABLE"})
    await push(world, "E1", {"status": "OUTOFORDER"})  # supersedes the AVAILABLE patch
    await push(world, "E2", {"status": "CHARGING"})
    worker = PushWorker(world.maker, ALLOW_LOOPBACK, clock=world.clock)  # type: ignore[arg-type]
    assert await worker.send_due() == 2  # the PUT of E1 and E2's patch; E1's patch waits its turn
    assert await worker.send_due() == 1
    sent = [(c.method, c.path.rsplit("/", 1)[1], c.body["status"]) for c in world.party.calls]
    assert sorted(sent[:2]) == [("PATCH", "E2", "CHARGING"), ("PUT", "E1", "CHARGING")]
    assert sent[2] == ("PATCH", "E1", "OUTOFORDER")
    assert await outcomes(world) == [("delivered", 1), ("superseded", 0), ("delivered", 1), ("delivered", 1)]
    call = world.party.calls[0]
    assert call.headers["authorization"].startswith("Token ")
    assert (call.headers["ocpi-from-country-code"], call.headers["ocpi-from-party-id"]) == ("SE", "LAD")
    assert (call.headers["ocpi-to-country-code"], call.headers["ocpi-to-party-id"]) == ("NL", "EMP")
    assert call.headers["x-request-id"] and call.headers["x-correlation-id"]


async def test_a_partner_that_is_down_is_retried_with_back_off_then_given_up(world: World) -> None:
    world.party.answers["/emsp"] = (503, {"status_code": 3000, "timestamp": "2026-01-01T00:00:00Z"})
    await push(world, "E3", {"status": "CHARGING"})
    worker = PushWorker(world.maker, ALLOW_LOOPBACK, clock=world.clock)  # type: ignore[arg-type]
    assert await worker.send_due() == 0
    assert await worker.send_due() == 0  # not due again before its back-off
    assert len(world.party.calls) == 1
    world.clock.advance(backoff(1))
    world.party.answers.clear()
    assert await worker.send_due() == 1
    assert await outcomes(world) == [("delivered", 2)]

    world.party.answers["/emsp"] = (200, {"status_code": 2001, "timestamp": "2026-01-01T00:00:00Z"})
    await push(world, "E4", {"status": "CHARGING"})
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await worker.send_due() == 0
        world.clock.advance(backoff(attempt))
    assert (await outcomes(world))[-1] == ("gave_up", MAX_ATTEMPTS)


async def test_a_pass_that_listed_a_push_before_another_tried_it_leaves_it_to_its_back_off(world: World) -> None:
    # Two passes overlap (a poke and the timer, two processes): both list the due push, one
    # tries it first; the other's turn comes after that attempt and must not send it again.
    world.party.answers["/emsp"] = (503, {"status_code": 3000, "timestamp": "2026-01-01T00:00:00Z"})
    await push(world, "E7", {"status": "CHARGING"})
    worker = PushWorker(world.maker, ALLOW_LOOPBACK, clock=world.clock)  # type: ignore[arg-type]
    async with world.maker() as db:  # type: ignore[attr-defined]
        push_id = await db.scalar(select(OcpiPush.id).where(OcpiPush.object_key == "evse:E7"))
    assert push_id is not None
    assert await worker.deliver(push_id) is False  # the first pass: the partner is down
    world.party.answers.clear()
    assert await worker.deliver(push_id) is False  # the second pass's turn: not due any more
    assert len(world.party.calls) == 1
    assert (await outcomes(world))[-1] == (None, 1)


async def test_pushes_go_to_public_addresses_only_unless_allowed(world: World) -> None:
    await push(world, "E5", {"status": "CHARGING"})
    worker = PushWorker(world.maker, OcpiSettings(), clock=world.clock)  # type: ignore[arg-type]
    assert await worker.send_due() == 0
    assert world.party.calls == []
    async with world.maker() as db:  # type: ignore[attr-defined]
        last = await db.scalar(select(OcpiPush).where(OcpiPush.partner_id == world.partner.id))
    assert last is not None and "public address" in (last.last_error or "")


async def test_an_unregistered_partner_gets_nothing(world: World) -> None:
    await push(world, "E6", {"status": "CHARGING"})
    async with world.maker() as db:  # type: ignore[attr-defined]
        partner = await db.get(OcpiPartner, world.partner.id)
        assert partner is not None
        partner.state = "unregistered"
        await db.commit()
    worker = PushWorker(world.maker, ALLOW_LOOPBACK, clock=world.clock)  # type: ignore[arg-type]
    assert await worker.send_due() == 0
    assert world.party.calls == []
    assert await outcomes(world) == [("gave_up", 0)]
