"""The bridge's socket layer (ocpp_bridge/websocket.py) as a charger sees it: fragments, UTF-8,
ping, a plain HTTP request, and the server's own timeouts, failures and shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from websockets.asyncio.client import connect
from websockets.http11 import Request, Response

from ocpp_bridge.protocol import Version
from ocpp_bridge.websocket import SocketOptions, WebSocket, WebSocketServer
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, register
from tests.support import RawCharger, basic_auth, close_code

HEARTBEAT = json.dumps([2, "hb-1", "Heartbeat", {}])


async def test_a_fragmented_call_is_answered_whole(system: System) -> None:
    cp = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V16)
    await cp.ws.send([HEARTBEAT[:5], HEARTBEAT[5:12], HEARTBEAT[12:]])
    reply = json.loads(await asyncio.wait_for(cp.ws.recv(), 5))
    assert reply[:2] == [3, "hb-1"] and reply[2]["currentTime"]
    await cp.close()


async def test_invalid_utf8_closes_with_1007_and_only_that_socket(system: System) -> None:
    bad = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V16)
    calm = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V16)
    await bad.ws.send(b'[2,"1","Heartbeat",{"x":"\xff\xfe"}]', text=True)
    assert await close_code(bad.ws) == 1007
    assert (await calm.ok("Heartbeat", {}))["currentTime"]
    await calm.close()


async def test_a_ping_is_answered_with_its_pong(system: System) -> None:
    cp = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V201)
    pong = await cp.ws.ping(b"are you there")
    await asyncio.wait_for(pong, 5)
    assert (await cp.ok("Heartbeat", {}))["currentTime"]
    await cp.close()


async def test_a_plain_http_request_for_a_charger_is_426(system: System) -> None:
    identity = await register(system)
    host, port = system.ocpp_url.split("//", 1)[1].split("/", 1)[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    auth = basic_auth(identity, PASSWORD)["Authorization"]
    writer.write(f"GET /ocpp/{identity} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 5)  # the server closes after its answer
    writer.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 426 ")
    assert "Upgrade: websocket" in head and "Server: Laddnat-OCPP" in head


# -- the server on its own, with a handler of the test's --------------------------------


@asynccontextmanager
async def socket_server(
    handler: Callable[[WebSocket[str], str], Awaitable[None]], open_timeout_s: float = 60.0
) -> AsyncIterator[tuple[WebSocketServer[str], str]]:
    async def opening(request: Request) -> Response | str:
        return request.path

    server: WebSocketServer[str] = WebSocketServer(
        opening,
        handler,
        SocketOptions(subprotocols=(), select_subprotocol=lambda _: None, max_size=4096, open_timeout_s=open_timeout_s),
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    await server.listen(sock, backlog=16, ssl_context=None)
    try:
        yield server, f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await server.close()


async def test_a_socket_that_never_asks_to_upgrade_is_cut_off_at_the_open_timeout() -> None:
    async def never(_ws: WebSocket[str], _path: str) -> None:
        raise AssertionError("no socket opens")

    async with socket_server(never, open_timeout_s=0.2) as (_, url):
        host, port = url[5:].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server, unasked
        writer.close()


async def test_the_handler_ending_closes_with_1000_and_failing_with_1011() -> None:
    async def handler(ws: WebSocket[str], path: str) -> None:
        async for message in ws:
            await ws.send(f"{path}:{message}")
            if message == "fail":
                raise RuntimeError("the handler broke")
            return

    async with socket_server(handler) as (_, url):
        async with connect(f"{url}/fine") as ws:
            await ws.send("hello")
            assert await ws.recv() == "/fine:hello"
            assert await close_code(ws) == 1000
        async with connect(f"{url}/broken") as ws:
            await ws.send("fail")
            assert await ws.recv() == "/broken:fail"
            assert await close_code(ws) == 1011


async def test_shutdown_closes_open_sockets_with_1001_and_waits_for_their_handlers() -> None:
    ended: list[str] = []

    async def handler(ws: WebSocket[str], path: str) -> None:
        async for message in ws:
            await ws.send(message)
        ended.append(path)

    async with socket_server(handler) as (server, url):
        async with connect(f"{url}/a") as ws:
            await ws.send("up")
            assert await ws.recv() == "up"
            await server.close()
            assert await close_code(ws) == 1001
    assert ended == ["/a"]
