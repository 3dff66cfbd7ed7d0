"""The API over ASGI on this module's own migrated database, with a clock the tests move."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.database import create_engine
from app.core.settings import Settings
from app.main import create_app
from app.notify.models import OutgoingMail
from tests.e2e.test_api import running

DEFAULT_ADDRESS = "198.51.100.1"


def new_address() -> str:
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@dataclass
class Clock:
    """Real time until a test moves it on; access tokens issued "in the future" are not
    accepted yet, so tests use tokens issued before they advance it."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def reset(self) -> None:
        self.now = datetime.now(UTC)


@dataclass
class DriverApi:
    app: Litestar
    client: httpx.AsyncClient
    settings: Settings
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    clock: Clock
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def at(self, address: str) -> httpx.AsyncClient:
        """A client calling from ``address`` (what the ASGI server reports as the peer)."""
        if address == DEFAULT_ADDRESS:
            return self.client
        if address not in self._clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            self._clients[address] = httpx.AsyncClient(transport=transport, base_url="http://api")
        return self._clients[address]

    async def sign_up(self, email: str, password: str, *, address: str | None = None) -> dict[str, Any]:
        """Sign up, follow the mailed link and return the token pair, as the app does; from
        a fresh address unless told, as sign-ups per address are limited."""
        client = self.at(address or new_address())
        return await sign_up_and_verify(client, self.maker, email, password)

    async def login(self, email: str, password: str, *, address: str = DEFAULT_ADDRESS) -> httpx.Response:
        return await self.at(address).post("/api/v1/auth/token", json={"email": email, "password": password})


async def sign_up_mails(maker: async_sessionmaker[AsyncSession], email: str) -> list[OutgoingMail]:
    """The sign-up mails queued for ``email``, oldest first."""
    async with maker() as db:
        rows = await db.scalars(
            select(OutgoingMail)
            .where(OutgoingMail.to_address == email.strip().lower(), OutgoingMail.kind.like("signup%"))
            .order_by(OutgoingMail.created_at)
        )
        return list(rows)


def link_token(mail: OutgoingMail) -> str:
    match = re.search(r"/verify\?token=(\S+)", mail.text_body)
    assert match is not None, mail.text_body
    return unquote(match.group(1))


async def sign_up_and_verify(
    client: httpx.AsyncClient, maker: async_sessionmaker[AsyncSession], email: str, password: str
) -> dict[str, Any]:
    """A new driver account through the API: sign up (202), the link from the mail, verify."""
    r = await client.post("/api/v1/auth/signup", json={"email": email, "password": password})
    assert r.status_code == 202, r.text
    mails = await sign_up_mails(maker, email)
    assert mails and mails[-1].kind == "signup_verify", [m.kind for m in mails]
    r = await client.post("/api/v1/auth/verify", json={"token": link_token(mails[-1]), "password": password})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def drivers(settings: Settings) -> AsyncIterator[DriverApi]:
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine)
    clock = Clock()
    app.state.clock = clock
    transport = httpx.ASGITransport(app=app, client=(DEFAULT_ADDRESS, 40000))
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        api = DriverApi(app, client, settings, engine, app.state.sessionmaker, clock)
        yield api
        for other in api._clients.values():
            await other.aclose()
    await engine.dispose()


@pytest.fixture(autouse=True)
def real_time(drivers: DriverApi) -> Callable[[], None]:
    """Each test starts at the real time."""
    drivers.clock.reset()
    return drivers.clock.reset
