"""A member of a consumer group in a process of its own, for tests that kill it with SIGKILL.

``python -m tests.e2e.bus_member NATS_URL GROUP``: subscribes ``GROUP`` to the test event
``bustest.numbered`` on a NatsBus with the default ack wait, prints ``holding <seq>`` for
each event it gets and never finishes handling it (never acks): it holds its events until
killed."""

from __future__ import annotations

import asyncio
import sys
import uuid

from app.core.bus import Event
from app.core.bus_nats import NatsBus
from tests.e2e.test_bus_contract import Numbered


async def main(url: str, group: str) -> None:
    bus = NatsBus(url, f"member-{uuid.uuid4().hex[:6]}")
    forever = asyncio.Event()

    async def hold(event: Event) -> None:
        assert isinstance(event, Numbered)
        print(f"holding {event.seq}", flush=True)
        await forever.wait()

    bus.subscribe(Numbered.subject, hold, group=group)
    await bus.start()
    print("ready", flush=True)
    await forever.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
