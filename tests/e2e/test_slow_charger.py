"""A charger that floods us and never reads its socket stalls only itself."""

from __future__ import annotations

import asyncio
import json
import socket

from websockets.asyncio.client import ClientConnection, connect

from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, register
from tests.support import RawCharger, basic_auth

FLOOD = 200
LIVENESS_S = 5.0  # a generous bound on "still answered", not a speed target


async def open_deaf_charger(system: System, identity: str) -> ClientConnection:
    """A 1.6 client that stops reading: the library pauses its transport after one unread
    frame (max_queue=1) and a tiny receive buffer closes the TCP window soon after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", system.bridge.port))
    return await connect(
        f"{system.ocpp_url}/{identity}",
        sock=sock,
        subprotocols=[Version.V16.value],  # type: ignore[list-item]
        additional_headers=basic_auth(identity, PASSWORD),
        max_queue=1,
        open_timeout=10,
    )


async def test_flooding_charger_that_never_reads_does_not_starve_others(system: System) -> None:
    deaf = await open_deaf_charger(system, await register(system))
    others = [
        await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V16),
        await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V201),
    ]
    try:

        async def flood() -> None:
            for n in range(FLOOD):
                await deaf.send(json.dumps([2, f"flood-{n}", "Heartbeat", {}]))

        await asyncio.wait_for(flood(), 30)

        # Throttled at max_calls_per_s, the flood takes seconds to work through; meanwhile
        # the others are answered as usual.
        for _ in range(3):
            for other in others:
                reply = await asyncio.wait_for(other.ok("Heartbeat", {}), LIVENESS_S)
                assert "currentTime" in reply

        # Nothing was dropped: once the slow charger reads again, all its answers are there, in order.
        async def drain() -> list[list[object]]:
            return [json.loads(await deaf.recv()) for _ in range(FLOOD)]

        replies = await asyncio.wait_for(drain(), 60)
        assert [r[1] for r in replies] == [f"flood-{n}" for n in range(FLOOD)]
        assert {r[0] for r in replies} == {3}
        # And the connection is still fine for the others.
        await asyncio.wait_for(others[0].ok("Heartbeat", {}), LIVENESS_S)
    finally:
        await deaf.close()
        for other in others:
            await other.close()
