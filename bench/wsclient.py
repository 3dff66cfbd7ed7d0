"""The load generator's WebSocket client: what a bench charger needs and nothing more.

On 2 cores the generator and the server it measures share the CPU. websockets' client spent
about as much per connection as the bridge does answering it (its handshake parser and
checks, the connection's own tasks), so in a storm the generator, not the bridge, set the
pace. This client writes a prepared upgrade request, checks the 101 and its accept key, and
frames text both ways (RFC 6455: client frames masked with a fresh random key, server frames
unmasked; ping answered, fragments joined). Only the bench uses it; the simulator and the
tests connect with websockets.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
from collections import deque
from collections.abc import AsyncIterator
from typing import cast

from websockets.frames import apply_mask
from websockets.utils import accept_key

MAX_HEAD = 16 * 1024
MAX_MESSAGE = 1024 * 1024
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class Refused(Exception):
    """The server answered the upgrade with another status than 101."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class HandshakeFailed(Exception):
    """A 101 that is not a valid WebSocket upgrade, or a socket closed before one."""


class Upgrade:
    """One charger's upgrade request and the accept key its 101 must carry, made once."""

    def __init__(self, host: str, port: int, path: str, subprotocol: str, authorization: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self.accept = accept_key(key).lower().encode()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\nAuthorization: {authorization}\r\n\r\n"
        ).encode()


def client_frame(opcode: int, payload: bytes) -> bytes:
    mask = random.randbytes(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + apply_mask(payload, mask)


class LeanSocket(asyncio.Protocol):
    """A client WebSocket on an asyncio transport: ``await handshake``, then ``send`` text and
    ``async for`` the server's text messages (the loop ends when the socket closes)."""

    def __init__(self, upgrade: Upgrade) -> None:
        self.upgrade = upgrade
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = loop.create_future()
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._messages: deque[str] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.upgrade.request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            if not self.handshake.done():
                self._read_head()
            if self.handshake.done():
                self._read_frames()
        except HandshakeFailed as err:
            self._fail(err)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeFailed(f"closed before the upgrade: {exc or 'EOF'}"))
        self._wake()

    # -- the two directions ----------------------------------------------------------

    async def send(self, text: str) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the socket is closed")
        self.transport.write(client_frame(OP_TEXT, text.encode()))

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            while self._messages:
                yield self._messages.popleft()
            if self.closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    # -- parsing ---------------------------------------------------------------------

    def _read_head(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HandshakeFailed("response head too long")
            return
        head = bytes(self._buffer[:end]).lower()
        del self._buffer[: end + 4]
        status_line, _, headers = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HandshakeFailed(f"not an HTTP response: {status_line[:60]!r}")
        if parts[1] != b"101":
            self.handshake.set_exception(Refused(int(parts[1])))
            self._close()
            return
        if b"sec-websocket-accept: " + self.upgrade.accept not in headers:
            raise HandshakeFailed("wrong Sec-WebSocket-Accept")
        self.handshake.set_result(None)

    def _read_frames(self) -> None:
        buf = self._buffer
        while len(buf) >= 2:
            first, second = buf[0], buf[1]
            if second & 0x80:
                raise HandshakeFailed("a masked frame from the server")
            length, at = second & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if length > MAX_MESSAGE:
                raise HandshakeFailed("frame too large")
            if len(buf) < at + length:
                return
            payload = bytes(buf[at : at + length])
            del buf[: at + length]
            self._on_frame(first & 0x80 != 0, first & 0x0F, payload)

    def _on_frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            if self.transport is not None:
                self.transport.write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(OP_CLOSE, payload[:2]))
            self._close()
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            self._fragments.append(payload)
            if fin:
                message, self._fragments = b"".join(self._fragments), []
                self._messages.append(message.decode())
                self._wake()

    # -- ending ----------------------------------------------------------------------

    def _fail(self, err: Exception) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(err)
        self._close()

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
