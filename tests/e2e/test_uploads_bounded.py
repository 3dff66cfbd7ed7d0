"""The unauthenticated diagnostics upload costs a stranger's request nothing: the token is
checked before a byte of the body is read, a declared size over the bound is refused at
once, the body is read as a bounded stream, and only so many uploads run at once.

A real uvicorn server and raw sockets: ``Expect: 100-continue`` makes "the server started
reading the body" observable (uvicorn sends ``100 Continue`` when the app first reads).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.command_service import MAX_UPLOAD_BYTES
from app.chargers.models import DiagnosticsFile
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import Settings, SettingsError
from app.main import create_app
from app.runner import _EmbeddedServer
from tests.conftest import TEST_SECRET
from tests.e2e.test_restart import free_port

ROOT = "/uploads/diagnostics"


@dataclass
class Stack:
    port: int
    maker: async_sessionmaker[AsyncSession]
    charger_id: Any

    async def slot(self, *, expires_in: timedelta = timedelta(hours=1), uploaded: bool = False) -> str:
        """A fresh upload token, as the GetDiagnostics command makes one."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.maker() as db:
            db.add(
                DiagnosticsFile(
                    charge_point_id=self.charger_id,
                    request_id=secrets.randbelow(10**6),
                    token_hash=hashlib.sha256(token.encode()).hexdigest(),
                    expires_at=now + expires_in,
                    uploaded_at=now if uploaded else None,
                )
            )
            await db.commit()
        return token

    async def open(self) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return Raw(reader, writer)


@dataclass
class Raw:
    """One HTTP/1.1 connection spoken by hand."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def headers(self, method: str, path: str, length: int, *, expect: bool = False) -> None:
        lines = [
            f"{method} {path} HTTP/1.1",
            "Host: charger.test",
            "Content-Type: application/octet-stream",
            f"Content-Length: {length}",
        ]
        if expect:
            lines.append("Expect: 100-continue")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def response(self) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """The next response: status, headers (lower-case names), JSON body if any."""
        async with asyncio.timeout(10):
            status_line = await self.reader.readline()
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self.reader.readexactly(length) if length else b""
        return status, headers, json.loads(body) if body else None

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture(scope="module")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=dataclasses.replace(
            settings.http, port=port, public_base_url=f"http://127.0.0.1:{port}", max_concurrent_uploads=1
        ),
    )
    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    await bus.start()
    async with maker() as db:
        cp = await ChargerService(db, bus).register("CP-UPLOADS", "uploads-password-123", evse_count=1)
    app = create_app(settings, engine=engine, bus=bus)
    server = _EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield Stack(port, maker, cp.id)
    server.should_exit = True
    await serving
    await bus.close()
    await engine.dispose()


async def refused_unread(stack: Stack, path: str, length: int) -> tuple[int, dict[str, Any] | None]:
    """Send only the headers of a ``length``-byte upload; the answer must come without the
    server asking for the body (no ``100 Continue`` first)."""
    raw = await stack.open()
    try:
        raw.headers("PUT", path, length, expect=True)
        status, _, body = await raw.response()
        return status, body
    finally:
        await raw.close()


@pytest.mark.parametrize("named", [False, True])
async def test_an_unknown_token_is_refused_without_reading_a_huge_body(stack: Stack, named: bool) -> None:
    path = f"{ROOT}/{secrets.token_urlsafe(32)}" + ("/diag.log" if named else "")
    status, body = await refused_unread(stack, path, MAX_UPLOAD_BYTES)
    assert status == 404 and body is not None and body["code"] == "upload.not_found"


async def test_an_expired_or_spent_token_is_refused_without_reading_the_body(stack: Stack) -> None:
    expired = await stack.slot(expires_in=timedelta(seconds=-1))
    status, body = await refused_unread(stack, f"{ROOT}/{expired}", MAX_UPLOAD_BYTES)
    assert status == 404 and body is not None and body["code"] == "upload.not_found"
    spent = await stack.slot(uploaded=True)
    status, body = await refused_unread(stack, f"{ROOT}/{spent}", MAX_UPLOAD_BYTES)
    assert status == 409 and body is not None and body["code"] == "upload.already_done"


async def test_a_bad_token_is_answered_from_the_headers_alone(stack: Stack) -> None:
    # No Expect header: the client sends headers and waits; the answer still comes.
    raw = await stack.open()
    try:
        raw.headers("POST", f"{ROOT}/not-a-real-token", 40 * 1024 * 1024)
        status, _, body = await raw.response()
    finally:
        await raw.close()
    assert status == 404 and body is not None and body["code"] == "upload.not_found"


async def test_a_declared_size_over_the_bound_is_refused_before_reading(stack: Stack) -> None:
    token = await stack.slot()
    status, body = await refused_unread(stack, f"{ROOT}/{token}", MAX_UPLOAD_BYTES + 1)
    assert status == 413 and body is not None and body["code"] == "upload.too_large"
    # The slot is still usable: nothing was stored.
    async with stack.maker() as db:
        row = await db.scalar(
            select(DiagnosticsFile).where(DiagnosticsFile.token_hash == hashlib.sha256(token.encode()).hexdigest())
        )
        assert row is not None and row.uploaded_at is None


async def test_uploads_beyond_the_bound_are_503_with_retry_after(stack: Stack) -> None:
    first, second = await stack.slot(), await stack.slot()
    payload = b"0123456789"

    # The first upload has begun: the server asked for its body and holds the one slot.
    a, b, c = await stack.open(), await stack.open(), await stack.open()
    try:
        a.headers("PUT", f"{ROOT}/{first}", len(payload), expect=True)
        async with asyncio.timeout(10):
            assert (await a.reader.readline()).startswith(b"HTTP/1.1 100")
            assert await a.reader.readline() == b"\r\n"

        b.headers("PUT", f"{ROOT}/{second}", len(payload))
        b.writer.write(payload)
        status, headers, body = await b.response()
        assert status == 503 and body is not None and body["code"] == "upload.busy"
        assert int(headers["retry-after"]) > 0

        # The first one finishes; then the slot is free for the second, retried.
        a.writer.write(payload)
        status, _, _ = await a.response()
        assert status == 201
        c.headers("PUT", f"{ROOT}/{second}", len(payload))
        c.writer.write(payload)
        status, _, _ = await c.response()
        assert status == 201
    finally:
        for raw in (a, b, c):
            await raw.close()


async def test_a_chunked_body_over_the_bound_is_refused_while_streaming(stack: Stack) -> None:
    token = await stack.slot()
    raw = await stack.open()
    try:
        raw.writer.write(
            (
                f"PUT {ROOT}/{token} HTTP/1.1\r\nHost: charger.test\r\n"
                "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        chunk = b"x" * (1024 * 1024)
        sent = 0
        # Stop sending as soon as the answer is there; never more than the bound and a bit.
        answer = asyncio.create_task(raw.response())
        while not answer.done() and sent <= MAX_UPLOAD_BYTES + len(chunk):
            raw.writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await raw.writer.drain()
            sent += len(chunk)
        status, _, body = await answer
    finally:
        await raw.close()
    assert status == 413
    assert body is not None and body["code"] == "upload.too_large"


def test_the_bound_is_a_setting() -> None:
    base = {"LADDNAT_SECRET_KEY": TEST_SECRET}
    assert Settings.from_env(base).http.max_concurrent_uploads == 4
    assert (
        Settings.from_env({**base, "LADDNAT_DIAGNOSTICS_MAX_CONCURRENT_UPLOADS": "2"}).http.max_concurrent_uploads == 2
    )
    with pytest.raises(SettingsError, match="LADDNAT_DIAGNOSTICS_MAX_CONCURRENT_UPLOADS"):
        Settings.from_env({**base, "LADDNAT_DIAGNOSTICS_MAX_CONCURRENT_UPLOADS": "0"})
