"""Test helpers: fresh databases, a running bridge, a raw OCPP client. No mocks of our code."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import threading
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.core.migrate import upgrade_sync
from app.core.settings import DatabaseSettings
from app.drivers.models import User
from ocpp_bridge.protocol import Version, validate

T = TypeVar("T")
PG_ENV = "LADDNAT_TEST_DATABASE_URL"
# argon2 at (about) its lowest cost: the suite hashes hundreds of passwords, and what it
# checks (a hash verifies its own password and no other) does not depend on the cost.
LOW_HASH_COST_ENV = {
    "LADDNAT_PASSWORD_TIME_COST": "1",
    "LADDNAT_PASSWORD_MEMORY_KIB": "32",
    "LADDNAT_CHARGER_PASSWORD_TIME_COST": "1",
    "LADDNAT_CHARGER_PASSWORD_MEMORY_KIB": "8",
}


def run_in_thread(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a private loop (usable from sync fixtures, whatever loop runs)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # pragma: no cover - re-raised below
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _pg(url: str, *statements: str) -> None:
    import asyncpg

    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    conn = await asyncpg.connect(urlunsplit(parts))
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


class DatabaseFactory:
    """Migrates one template database per run (per xdist worker), then hands out copies of it
    per module. Names hold the worker and a random run id: parallel workers, and other runs
    on the same PostgreSQL, never share a database."""

    def __init__(self, pg_url: str | None, workdir: Path, worker: str = "main") -> None:
        self.pg_url = pg_url
        self.workdir = workdir
        self.run_id = f"{worker}_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []
        if pg_url:
            self.template = f"laddnat_tpl_{self.run_id}"
            run_in_thread(lambda: _pg(pg_url, f'CREATE DATABASE "{self.template}"'))
            self.created.append(self.template)
            upgrade_sync(DatabaseSettings(url=_with_database(pg_url, self.template)))
        else:
            self.template_file = workdir / "template.sqlite3"
            upgrade_sync(DatabaseSettings(url=f"sqlite+aiosqlite:///{self.template_file}"))

    @property
    def is_postgres(self) -> bool:
        return self.pg_url is not None

    def new(self) -> str:
        if self.pg_url:
            name = f"laddnat_t_{self.run_id}_{len(self.created)}"
            pg_url = self.pg_url
            # A test database is thrown away: its commits need not wait for the disk. What the
            # tests see (visibility, locks, isolation) is the same; what changes is that a commit
            # no longer queues behind other workers' fsyncs, which stalled whole stacks on CI.
            run_in_thread(
                lambda: _pg(
                    pg_url,
                    f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"',
                    f'ALTER DATABASE "{name}" SET synchronous_commit = off',
                )
            )
            self.created.append(name)
            return _with_database(self.pg_url, name)
        path = self.workdir / f"db-{self.run_id}-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(self.template_file, path)
        return f"sqlite+aiosqlite:///{path}"

    def drop_all(self) -> None:
        if not self.pg_url:
            return
        pg_url = self.pg_url
        statements = [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in reversed(self.created)]
        run_in_thread(lambda: _pg(pg_url, *statements))


def basic_auth(identity: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def close_code(ws: ClientConnection, timeout_s: float = 5.0) -> int:
    """The code of the close frame the server sends next (a message instead fails)."""
    try:
        message = await asyncio.wait_for(ws.recv(), timeout_s)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the socket closed without a close frame"
        return closed.rcvd.code
    raise AssertionError(f"a message came instead of the close: {message!r}")


class RawCharger:
    """A bare OCPP-J client: exact frames in and out, every CALLRESULT checked against the schema."""

    def __init__(self, ws: ClientConnection, version: Version) -> None:
        self.ws = ws
        self.version = version
        self._n = 0
        self.incoming_calls: list[list[Any]] = []

    @classmethod
    async def open(
        cls, base_url: str, identity: str, password: str | None, version: Version = Version.V16
    ) -> RawCharger:
        headers = basic_auth(identity, password) if password is not None else {}
        ws = await connect(
            f"{base_url}/{identity}",
            subprotocols=[version.value],
            additional_headers=headers,  # type: ignore[list-item]
        )
        return cls(ws, version)

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        self._n += 1
        message_id = f"m{self._n}"
        reply = await self.send_raw(json.dumps([2, message_id, action, payload]))
        assert reply[1] == message_id
        return reply

    async def ok(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call, expect a CALLRESULT valid under the official response schema."""
        reply = await self.call(action, payload)
        assert reply[0] == 3, reply
        validate(self.version, action, reply[2], response=True)
        return reply[2]  # type: ignore[no-any-return]

    async def error(self, action: str, payload: dict[str, Any]) -> tuple[str, str]:
        reply = await self.call(action, payload)
        assert reply[0] == 4, reply
        return reply[2], reply[3]

    async def send_raw(self, text: str) -> list[Any]:
        await self.ws.send(text)
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if frame[0] == 2:  # the CSMS calling us: keep it for the test
                self.incoming_calls.append(frame)
                continue
            return frame  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()


async def first_operator(db: AsyncSession) -> uuid.UUID:
    """The database's first operator company (tenant), created when there is none: the one
    ``create_staff`` users belong to unless told otherwise, so a test stack's locations and
    chargers made in it are its operator user's own."""
    from app.operators.models import Operator

    operator = await db.scalar(select(Operator).order_by(Operator.created_at).limit(1))
    if operator is None:
        # Party LAD: the EVSE IDs of its chargers read as the unowned ones' (SE*LAD*...).
        operator = Operator(name="Test CPO", country_code="SE", party_id="LAD")
        db.add(operator)
        await db.commit()
    return operator.id


async def create_staff(
    db: AsyncSession, email: str, password: str, role: str = "admin", operator_id: uuid.UUID | None = None
) -> User:
    """A user of an operator company (tenant): of ``operator_id``, else of the database's
    first operator (``first_operator``)."""
    from app.drivers.service import UserService

    if operator_id is None:
        operator_id = await first_operator(db)
    return await UserService(db).create_user(email, password, role, operator_id=operator_id)
