"""The bench's lean WebSocket client against a real websockets server: upgrade, framing both
ways (short, 16-bit and 64-bit lengths, fragments), ping, refusal and close."""

from __future__ import annotations

import asyncio
import http
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from bench.wsclient import LeanSocket, Refused, Upgrade


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        if message == "fragments":
            await ws.send(["frag", "ments"])
        elif message == "ping":
            await asyncio.wait_for(await ws.ping(), 5)  # our pong resolves it
            await ws.send("pong seen")
        elif message == "close":
            await ws.close()
        else:
            await ws.send(message)


def _refuse_x(_conn: ServerConnection, request: Request) -> Response | None:
    if request.path.endswith("/refused"):
        return _conn.respond(http.HTTPStatus.FORBIDDEN, "no\n")
    return None


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with serve(_echo, "127.0.0.1", 0, process_request=_refuse_x, max_size=2**20) as srv:
        yield srv


async def _open(server: Server, path: str = "/ocpp/CP1") -> LeanSocket:
    port = next(iter(server.sockets)).getsockname()[1]
    upgrade = Upgrade("127.0.0.1", port, path, "ocpp1.6", "Basic Q1AxOnNlY3JldA==")
    _, ws = await asyncio.get_running_loop().create_connection(lambda: LeanSocket(upgrade), "127.0.0.1", port)
    await asyncio.wait_for(ws.handshake, 5)
    return ws


async def _next(ws: LeanSocket) -> str:
    async for message in ws:
        return message
    raise AssertionError("closed")


@pytest.mark.parametrize("size", [10, 200, 70_000])
async def test_messages_of_every_length_go_both_ways(server: Server, size: int) -> None:
    ws = await _open(server)
    text = "x" * size
    await ws.send(text)
    assert await asyncio.wait_for(_next(ws), 5) == text


async def test_fragments_are_joined_and_pings_answered(server: Server) -> None:
    ws = await _open(server)
    await ws.send("fragments")
    assert await asyncio.wait_for(_next(ws), 5) == "fragments"
    await ws.send("ping")
    assert await asyncio.wait_for(_next(ws), 5) == "pong seen"


async def test_a_refused_upgrade_names_its_status(server: Server) -> None:
    with pytest.raises(Refused) as refused:
        await _open(server, "/ocpp/refused")
    assert refused.value.status == 403


async def test_iteration_ends_when_the_server_closes(server: Server) -> None:
    ws = await _open(server)
    await ws.send("close")
    received = [message async for message in ws]
    assert received == [] and ws.closed
    with pytest.raises(ConnectionError):
        await ws.send("late")
