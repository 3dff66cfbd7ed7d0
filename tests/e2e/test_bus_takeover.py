"""A consumer group's events after a member stops: nothing waits the old 30 s ack wait, and
nothing is handled twice.

- A member killed with SIGKILL (a real process) while holding events: they reach the next
  member after the ack wait (5 s by default), each once, in order.
- A member stopped in place (a leader deposed, a process shutting down) gives its events
  back at once, even with a long ack wait.
- A handler slower than the ack wait keeps its event ("in progress" acks): no other member
  gets it, proved by the server's redelivery count.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import nats
import nats.js.errors
import pytest
from nats.js import api

from app.core.bus import Event
from app.core.bus_nats import ACK_WAIT_S, DURABLE_PREFIX, LEADERS_BUCKET, MAX_DELIVER, STREAM, NatsBus, consumer_name
from tests.e2e.test_bus_contract import (
    NATS_SERVER,
    ROOT,
    Collector,
    NatsServer,
    Numbered,
    consumer_settled,
    running_nats_server,
)

pytestmark = [
    pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed"),
    pytest.mark.one_database,  # the bus alone: no database in what it checks
]


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    yield from running_nats_server(tmp_path_factory, "nats-takeover")


@pytest.fixture
async def buses() -> AsyncIterator[list[NatsBus]]:
    made: list[NatsBus] = []
    yield made
    for bus in made:
        await bus.close()


def new_bus(made: list[NatsBus], server: NatsServer, **kwargs: float) -> NatsBus:
    bus = NatsBus(server.url, f"node-{len(made)}-{uuid.uuid4().hex[:6]}", **kwargs)
    made.append(bus)
    return bus


async def consumer_info(server: NatsServer, durable: str) -> api.ConsumerInfo:
    nc = await nats.connect(server.url)
    try:
        return await nc.jetstream().consumer_info(STREAM, durable)
    finally:
        await nc.close()


async def line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), 30)).decode().strip()


@pytest.mark.subprocess  # the member is a process of its own
async def test_events_a_killed_member_held_reach_the_next_member_once_and_in_order(
    nats_server: NatsServer, buses: list[NatsBus]
) -> None:
    run = uuid.uuid4().hex
    group = f"takeover-{run[:8]}"
    durable = consumer_name(group, Numbered.subject)
    # The group's consumer first, as the bus makes it, then the three events stored in it:
    # the member's first fetch takes all three. (Published after the member started, the
    # first could be fetched alone, and the other two wait behind it for good.)
    publisher = new_bus(buses, nats_server)
    await publisher.start()
    nc = await nats.connect(nats_server.url)
    try:
        config = api.ConsumerConfig(
            durable_name=durable,
            filter_subject=DURABLE_PREFIX + Numbered.subject,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.NEW,
            max_deliver=MAX_DELIVER,
            ack_wait=ACK_WAIT_S,
        )
        await nc.jetstream().add_consumer(STREAM, config)
    finally:
        await nc.close()
    for seq in range(3):
        publisher.publish(Numbered(run=run, seq=seq))
    while (await consumer_info(nats_server, durable)).num_pending < 3:
        await asyncio.sleep(0.05)
    member = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.e2e.bus_member", nats_server.url, group, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert member.stdout is not None
    try:
        assert await line(member.stdout) == "ready"
        # It handles the first and holds the other two in its batch, none acked.
        assert await line(member.stdout) == "holding 0"
        info = await consumer_info(nats_server, durable)
        assert info.num_ack_pending == 3 and info.num_pending == 0
    finally:
        member.kill()  # SIGKILL: no nak, no goodbye
        await member.wait()

    got = Collector()
    successor = new_bus(buses, nats_server)
    successor.subscribe(Numbered.subject, got, group=group)
    await successor.start()
    # Well within the ack wait of old (30 s): they come back once the member's 5 s run out.
    assert ACK_WAIT_S <= 5
    await got.until(lambda: len(got.of(run)) == 3, timeout_s=4 * ACK_WAIT_S)
    await consumer_settled(nats_server, durable)
    assert got.of(run) == [0, 1, 2]


async def test_a_member_stopped_in_place_gives_its_events_back_at_once(
    nats_server: NatsServer, buses: list[NatsBus]
) -> None:
    run = uuid.uuid4().hex
    group = f"deposed-{run[:8]}"
    # An ack wait no test waits out: the events come back by the stopped member's nak.
    stopped, successor = (new_bus(buses, nats_server, ack_wait_s=300) for _ in range(2))
    holding = asyncio.Event()

    async def hold(event: Event) -> None:
        holding.set()
        await asyncio.Event().wait()

    got = Collector()
    stopped.subscribe(Numbered.subject, hold, group=group)
    await stopped.start()
    await successor.start()
    for seq in range(3):
        stopped.publish(Numbered(run=run, seq=seq))
    await asyncio.wait_for(holding.wait(), 10)
    successor.subscribe(Numbered.subject, got, group=group)
    stopped.unsubscribe(group)  # as a deposed leader does
    await got.until(lambda: len(got.of(run)) == 3, timeout_s=30)
    await consumer_settled(nats_server, consumer_name(group, Numbered.subject))
    assert got.of(run) == [0, 1, 2]


async def test_a_handler_slower_than_the_ack_wait_keeps_its_event(
    nats_server: NatsServer, buses: list[NatsBus]
) -> None:
    run = uuid.uuid4().hex
    group = f"slow-{run[:8]}"
    durable = consumer_name(group, Numbered.subject)
    members = [new_bus(buses, nats_server, ack_wait_s=1.0) for _ in range(2)]
    handled: list[tuple[int, int]] = []  # (member, seq)
    holder: list[NatsBus] = []
    release = asyncio.Event()

    def slow(n: int) -> Collector:
        class Slow(Collector):
            async def __call__(self, event: Event) -> None:
                assert isinstance(event, Numbered)
                handled.append((n, event.seq))
                holder.append(members[n])
                await release.wait()
                await super().__call__(event)

        return Slow()

    done = [slow(n) for n in range(2)]
    for n, member in enumerate(members):
        member.subscribe(Numbered.subject, done[n], group=group)
        await member.start()
    members[0].publish(Numbered(run=run, seq=0))
    await _until(lambda: bool(handled))
    # Time passes by the holder's own "in progress" acks: past the ack wait twice over.
    [bus] = holder
    start = bus.subscriptions.progress_sent
    await _until(lambda: bus.subscriptions.progress_sent >= start + 8)
    info = await consumer_info(nats_server, durable)
    assert (info.num_ack_pending, info.num_redelivered) == (1, 0)
    release.set()
    await consumer_settled(nats_server, durable)
    assert handled == [handled[0]] and handled[0][1] == 0
    assert (await consumer_info(nats_server, durable)).num_redelivered == 0


async def test_a_consumer_made_with_the_old_ack_wait_is_brought_to_the_new_one(
    nats_server: NatsServer, buses: list[NatsBus]
) -> None:
    group = f"upgraded-{uuid.uuid4().hex[:8]}"
    durable = consumer_name(group, Numbered.subject)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        old = NatsBus(nats_server.url, "old-release")  # makes the stream
        await old.start()
        await old.close()
        await js.add_consumer(
            STREAM,
            api.ConsumerConfig(
                durable_name=durable,
                filter_subject=f"laddnat.ev.{Numbered.subject}",
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.NEW,
                max_deliver=5,
                ack_wait=30,
            ),
        )
    finally:
        await nc.close()
    bus = new_bus(buses, nats_server)
    bus.subscribe(Numbered.subject, Collector(), group=group)
    await bus.start()
    assert (await consumer_info(nats_server, durable)).config.ack_wait == ACK_WAIT_S


async def _until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll a condition on this process's own state (a counter, a list)."""

    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout_s)


async def _one_leader(buses: list[NatsBus], server: NatsServer, role: str) -> tuple[NatsBus, list[str]]:
    """A bus leading ``role``, and the list its elections and step-downs are written to."""
    bus = new_bus(buses, server, leader_ttl_s=6.0)
    await bus.start()
    happened: list[str] = []

    async def on_elected() -> None:
        happened.append("elected")

    async def on_deposed() -> None:
        happened.append("deposed")

    await bus.lead(role, on_elected=on_elected, on_deposed=on_deposed).start()
    await _until(lambda: happened == ["elected"])
    return bus, happened


async def test_a_refresh_that_landed_unseen_keeps_the_lead(nats_server: NatsServer, buses: list[NatsBus]) -> None:
    """A refresh answered too late for its timeout may have landed: the key still names the
    leader at a revision it never saw. The leader takes that revision up and keeps the lead
    (it stepped down, and a starved health leader flapped)."""
    role = f"role-{uuid.uuid4().hex[:6]}"
    bus, happened = await _one_leader(buses, nats_server, role)
    kv = await bus.leaders()
    unseen = await kv.put(role, bus.node_id.encode())  # the refresh whose answer was lost

    async def refreshed_after() -> bool:
        entry = await kv.get(role)
        return entry.revision is not None and entry.revision > unseen

    async with asyncio.timeout(20):
        while not await refreshed_after():
            await asyncio.sleep(0.05)
    assert (await kv.get(role)).value == bus.node_id.encode()
    assert happened == ["elected"]


async def test_a_leader_whose_key_another_took_steps_down(nats_server: NatsServer, buses: list[NatsBus]) -> None:
    role = f"role-{uuid.uuid4().hex[:6]}"
    bus, happened = await _one_leader(buses, nats_server, role)
    kv = await bus.leaders()
    await kv.put(role, b"another-node")
    await _until(lambda: happened == ["elected", "deposed"])
    assert (await kv.get(role)).value == b"another-node"  # not overwritten by the one deposed


async def test_a_leader_keeps_its_lead_through_a_nats_restart(nats_server: NatsServer, buses: list[NatsBus]) -> None:
    """Last in the module: it restarts the server. The leaders' keys are on disk, so the leader
    refreshes its own key after the restart and the standby never gets it (with the bucket in
    memory the restart emptied it: the standby took the lead while the leader still held it)."""
    role = f"role-{uuid.uuid4().hex[:6]}"
    # Steps down after 3 s without a refresh: longer than the restart and the reconnect.
    members = [new_bus(buses, nats_server, leader_ttl_s=6.0) for _ in range(2)]
    elected: list[int] = []
    deposed: list[int] = []

    def handlers(n: int) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
        async def on_elected() -> None:
            elected.append(n)

        async def on_deposed() -> None:
            deposed.append(n)

        return on_elected, on_deposed

    leaderships = []
    for n, member in enumerate(members):
        await member.start()
        on_elected, on_deposed = handlers(n)
        leaderships.append(member.lead(role, on_elected=on_elected, on_deposed=on_deposed))
    await leaderships[0].start()
    await _until(lambda: elected == [0])
    await leaderships[1].start()
    kv = await members[0].leaders()
    before = (await kv.get(role)).revision

    nats_server.kill()
    nats_server.start()
    # The leader's first refresh after the restart, on the key it held before.
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()

        async def refreshed() -> bool:
            try:
                entry = await (await js.key_value(LEADERS_BUCKET)).get(role)
            except nats.js.errors.NotFoundError:  # the bucket or the key, not there (yet)
                return False
            return entry.revision > before and entry.value == members[0].node_id.encode()

        async with asyncio.timeout(20):
            while not await refreshed():
                await asyncio.sleep(0.05)
    finally:
        await nc.close()
    # Had the standby created the key, the leader's refresh would have failed on it.
    assert (elected, deposed) == ([0], [])
    for leadership in leaderships:
        await leadership.close()
