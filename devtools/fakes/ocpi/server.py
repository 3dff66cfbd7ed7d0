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


@contextlib.asynccontextmanager
async def emsp_party(
    config: EmspConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[EmspParty]:
    """The party listening on ``host``:``port`` (a free one by default) until the block ends."""
    party = EmspParty(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    party.base_url = f"http://{host}:{listener.getsockname()[1]}"
    server = _Server(uvicorn.Config(_app(party), log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            await serving  # raises what stopped it
        await asyncio.sleep(0.01)
    try:
        yield party
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def serve_forever(config: EmspConfig, *, host: str, port: int, token_uids: list[str]) -> None:
    async with emsp_party(config, host=host, port=port) as party:
        for uid in token_uids:
            party.add_token(uid)
        print(f"fake eMSP {config.country_code}*{config.party_id} at {party.versions_url}")
        print(f"token A for a CPO to register with it: {party.issue_token()}", flush=True)
        await asyncio.Event().wait()
