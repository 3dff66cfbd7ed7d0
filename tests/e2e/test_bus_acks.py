"""JetStream publishes in a window (app/core/bus_nats/acks.py), against a real nats-server:
what counts as taken is what the stream stored, from the window's first message on; a
message sent again is stored once; a refusal or a silence stops the count where it is."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.aio.msg import Msg

from app.core.bus_nats import DURABLE_PREFIX, FANOUT_PREFIX, STREAM, NatsBus
from tests.e2e.test_bus_contract import NATS_SERVER, NatsServer, running_nats_server

pytestmark = [
    pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed"),
    pytest.mark.one_database,  # the bus alone: no database in what it checks
]


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    yield from running_nats_server(tmp_path_factory, "nats-acks")


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[NatsBus]:
    bus = NatsBus(nats_server.url, f"acks-{uuid.uuid4().hex[:6]}")
    await bus.start()
    yield bus
    await bus.close()


async def last_seq(bus: NatsBus) -> int:
    assert bus.js is not None
    return int((await bus.js.stream_info(STREAM)).state.last_seq)


@contextlib.asynccontextmanager
async def unanswered(bus: NatsBus, subject: str) -> AsyncIterator[list[Msg]]:
    """A plain subscriber of ``subject`` that answers nothing itself: the messages it got."""
    assert bus.nc is not None
    got: list[Msg] = []

    async def keep(msg: Msg) -> None:
        got.append(msg)

    sub = await bus.nc.subscribe(subject, cb=keep)
    try:
        yield got
    finally:
        await sub.unsubscribe()


def stored(n: int, run: str) -> tuple[str, bytes, bool, str]:
    return (f"{DURABLE_PREFIX}test.acks", f'{{"n": {n}}}'.encode(), True, f"{run}-{n}")


async def test_the_count_stops_at_the_first_message_no_stream_takes_and_a_resend_is_stored_once(bus: NatsBus) -> None:
    run = uuid.uuid4().hex
    nowhere = ("laddnat.nostream.acks", b"{}", True, f"{run}-x")
    before = await last_seq(bus)
    taken, why = await bus.publisher.send([stored(1, run), nowhere, stored(2, run)], 5.0)
    assert (taken, why) == (1, "NATS answered status 503")
    assert await last_seq(bus) == before + 2  # the third was stored, but not counted
    # The outbox sends again from the first one not counted: the stream knows the ids.
    taken, why = await bus.publisher.send([stored(2, run), stored(3, run)], 5.0)
    assert (taken, why) == (2, "")
    assert await last_seq(bus) == before + 3


async def test_a_fanout_message_is_taken_once_handed_over_and_an_empty_window_is_done(bus: NatsBus) -> None:
    fanout = (f"{FANOUT_PREFIX}test.acks", b"{}", False, "")
    assert await bus.publisher.send([fanout], 5.0) == (1, "")
    assert await bus.publisher.send([], 5.0) == (0, "")


async def test_an_unanswered_message_ends_the_window_at_its_deadline(bus: NatsBus) -> None:
    # A plain subscriber takes the subject and never answers, as a stream that hangs would.
    async with unanswered(bus, "laddnat.silent.acks") as seen:
        run = uuid.uuid4().hex
        silent_one = ("laddnat.silent.acks", b"{}", True, f"{run}-s")
        taken, why = await bus.publisher.send([stored(1, run), silent_one], 0.5)
        assert (taken, why) == (1, "no answer from NATS within 0.5 s")
        assert len(seen) == 1


async def test_an_answer_after_its_window_ended_changes_nothing(bus: NatsBus) -> None:
    """A late answer (from a window given up on) must not count for the next window."""
    async with unanswered(bus, "laddnat.late.acks") as held:
        late = ("laddnat.late.acks", b"{}", True, "")
        assert await bus.publisher.send([late], 0.3) == (0, "no answer from NATS within 0.3 s")
        second = asyncio.create_task(bus.publisher.send([late], 30.0))
        for _ in range(500):
            if len(held) == 2:
                break
            await asyncio.sleep(0.01)
        # The first window's answer comes now, at the same index as the second's message:
        # it must not count. Then the second's own answer, a refusal, ends its window.
        await held[0].respond(b'{"stream": "LADDNAT_EVENTS", "seq": 1}')
        await held[1].respond(b'{"error": {"code": 503, "err_code": 10077, "description": "stream offline"}}')
        assert await second == (0, "stream offline")
