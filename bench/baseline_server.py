"""The baseline: a bare ``websockets`` server with the bridge's socket options and no OCPP work.

It JSON-parses each frame and answers ``[3, id, {}]``: the ceiling any Python OCPP
server on ``websockets`` can reach on this machine with this load generator.

    python -m bench.baseline_server --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.common import raise_nofile_limit

SUBPROTOCOLS = (Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6"))


def _select(_conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    for proto in SUBPROTOCOLS:
        if proto in offered:
            return proto
    return None


async def handler(ws: ServerConnection) -> None:
    try:
        async for raw in ws:
            msg = json.loads(raw)
            await ws.send(json.dumps([3, msg[1], {}]))
    except ConnectionClosed:
        pass


async def main(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The same options as ocpp_bridge.server.Bridge.start.
    async with serve(
        handler,
        host,
        port,
        subprotocols=list(SUBPROTOCOLS),
        select_subprotocol=_select,
        compression=None,
        max_size=64 * 1024,
        max_queue=4,
        write_limit=16 * 1024,
        ping_interval=60,
        ping_timeout=60,
        close_timeout=5,
        server_header="Laddnat-Baseline",
    ):
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile_limit()
    asyncio.run(main(args.host, args.port))
