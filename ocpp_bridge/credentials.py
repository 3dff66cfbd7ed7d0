"""Recently verified charger credentials, so a reconnect storm costs no KDF and no query."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import configure_mappers

from app.chargers.service import ChargerCredentials, ChargerRef, ChargerService
from app.core.bus import Bus

log = logging.getLogger("laddnat.ocpp")

# A bridge starts listening even if its database is slow to answer.
WARM_UP_TIMEOUT_S = 3.0


class CredentialCache:
    """Chargers whose password was verified recently, so a reconnect storm costs no KDF
    and no query. Holds a SHA-256 of identity and password, never the password; an entry
    goes when the charger's credentials change (bus event) or after ``ttl_s``."""

    def __init__(self, ttl_s: float = 600.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[bytes, ChargerRef, float]] = {}

    @staticmethod
    def _digest(identity: str, password: str) -> bytes:
        return hashlib.sha256(f"{identity}:{password}".encode()).digest()

    def get(self, identity: str, password: str | None) -> ChargerRef | None:
        entry = self._entries.get(identity)
        if entry is None or password is None:
            return None
        digest, charger, expires = entry
        if time.monotonic() > expires or not hmac.compare_digest(digest, self._digest(identity, password)):
            return None
        return charger

    def put(self, charger: ChargerRef, password: str) -> None:
        digest = self._digest(charger.identity, password)
        self._entries[charger.identity] = (digest, charger, time.monotonic() + self.ttl_s)

    def forget(self, identity: str) -> None:
        self._entries.pop(identity, None)

    def refresh(self, charger: ChargerRef) -> None:
        """Keep what was learnt about the charger since its handshake (e.g. its boot config)."""
        entry = self._entries.get(charger.identity)
        if entry is not None and entry[1].id == charger.id:
            self._entries[charger.identity] = (entry[0], charger, entry[2])


class CredentialLookup:
    """First-time handshakes share their database lookups: the identities waiting when the
    lookup is free are fetched in one query. After a bridge restart every charger of the
    city is a first-time handshake; one query each would hold the database (on SQLite, its
    only connection) away from the writers answering the chargers already in."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], bus: Bus, *, max_batch: int = 500) -> None:
        self.maker = maker
        self.bus = bus
        self.max_batch = max_batch
        self._waiting: dict[str, list[asyncio.Future[ChargerCredentials | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, identity: str) -> ChargerCredentials | None:
        """The charger's credentials, None if unknown; raises what the query raised."""
        future: asyncio.Future[ChargerCredentials | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(identity, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="credential-lookup")
        return await future

    async def warm_up(self) -> None:
        """Run the lookup once for no charger, before the first handshake: a bridge started
        after a node loss meets every charger of that node at once, and configuring the ORM's
        mappers and compiling this query then cost ~0.5 s of that storm's CPU. A database
        not reachable yet is no error here (``/readyz`` says so)."""
        configure_mappers()
        try:
            async with asyncio.timeout(WARM_UP_TIMEOUT_S), self.maker() as db:
                await ChargerService(db, self.bus).credentials([""])
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.info("credential lookup not warmed up: %s", err)

    async def _run(self) -> None:
        while self._waiting:
            identities = list(self._waiting)[: self.max_batch]
            batch = {identity: self._waiting.pop(identity) for identity in identities}
            try:
                async with self.maker() as db:
                    found = await ChargerService(db, self.bus).credentials(identities)
            except Exception as err:
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(err)
                continue
            for identity, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(found.get(identity))
