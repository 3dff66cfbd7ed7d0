"""Running the fake: in-process on a free port (``emsp_party``), or alone (``serve_forever``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from litestar import Litestar, Request, Response, route

from devtools.fakes.ocpi.party import EmspConfig, EmspParty


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller's loop owns the signals


def _app(party: EmspParty) -> Litestar:
    @route("/{path:path}", http_method=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
        return await party.handle(request)

    return Litestar([anything])


class _Listening:
    """The party's server on one port: stopped and started again on that port (an outage)."""

    def __init__(self, party: EmspParty, host: str, port: int) -> None:
        self.party, self.host, self.port = party, host, port
        self.server: _Server | None = None
        self.serving: asyncio.Task[None] | None = None
        self.listener: socket.socket | None = None

    async def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        self.port = listener.getsockname()[1]
        server = _Server(uvicorn.Config(_app(self.party), log_config=None, access_log=False, lifespan="off"))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started:
            if serving.done():
                await serving  # raises what stopped it
            await asyncio.sleep(0.01)
        self.server, self.serving, self.listener = server, serving, listener

    async def stop(self) -> None:
        if self.server is None or self.serving is None or self.listener is None:
            return
        self.server.should_exit = True
        await self.serving
        self.listener.close()
        self.server = self.serving = self.listener = None


@contextlib.asynccontextmanager
async def emsp_party(
    config: EmspConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[EmspParty]:
    """The party listening on ``host``:``port`` (a free one by default) until the block ends."""
    party = EmspParty(config)
    listening = _Listening(party, host, port)
    await listening.start()
    party.base_url = f"http://{host}:{listening.port}"
    party.listener = listening
    try:
        yield party
    finally:
        await listening.stop()


async def serve_forever(config: EmspConfig, *, host: str, port: int, token_uids: list[str]) -> None:
    async with emsp_party(config, host=host, port=port) as party:
        for uid in token_uids:
            party.add_token(uid)
        print(f"fake eMSP {config.country_code}*{config.party_id} at {party.versions_url}")
        print(f"token A for a CPO to register with it: {party.issue_token()}", flush=True)
        await asyncio.Event().wait()
