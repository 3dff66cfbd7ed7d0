"""Async SQLAlchemy engine, the declarative base and the column types every area uses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import msgspec
from sqlalchemy import BigInteger, DateTime, MetaData, Select, String, event, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

from app.core.settings import DatabaseSettings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Laddnät stores aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def json_text(value: Any) -> str:
    """JSON columns' text: msgspec's encoder, several times json.dumps's speed on the hot
    path's event data (a boot's report, a status's details)."""
    return _json.encode(value).decode()


_json = msgspec.json.Encoder()


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    if settings.is_sqlite:
        path = settings.url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has a single writer, and queueing in the pool is
        # cheaper and clearer than "database is locked" retries.
        engine = create_async_engine(
            settings.url,
            echo=settings.echo,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            json_serializer=json_text,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

        return engine
    # No pre-ping: it is a round trip per checkout on the hot path; a dead connection
    # fails its statement, the message gets InternalError and the charger retries.
    return create_async_engine(
        settings.url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_recycle=1800,
        json_serializer=json_text,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def insert_or_ignore(dialect: str, table: Any) -> Any:
    """An INSERT that skips rows violating a unique constraint (retries, replays)."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing()


def insert_ignoring_duplicates(db: AsyncSession, table: Any) -> Any:
    """``insert_or_ignore`` for the dialect ``db`` is bound to."""
    return insert_or_ignore(db.get_bind().dialect.name, table)


async def claim(db: AsyncSession, stmt: Executable) -> bool:
    """Run a conditional write (an UPDATE or DELETE whose WHERE states the row as the caller
    expects it, an INSERT that ignores duplicates) in the caller's transaction; True if it
    changed a row. Of two callers racing for one row exactly one gets True, so it is how a
    worker claims work and how a use-once token is spent. On False nothing was written;
    rolling back or retrying is the caller's choice."""
    result = cast(CursorResult[Any], await db.execute(stmt))
    return result.rowcount > 0


# Any select, of one column or several (Select is variadic in SQLAlchemy 2.1).
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def scoped(stmt: SelectT, operator_column: Any, tenant_id: uuid.UUID | None) -> SelectT:
    """``stmt`` narrowed to one tenant's rows; ``tenant_id=None`` is the system's own view
    (the bridge, workers), never an operator's: the ``tenant_id`` dependency is never None."""
    return stmt if tenant_id is None else stmt.where(operator_column == tenant_id)


class Counter(Base):
    """Named gap-tolerant counters (transaction numbers, charge point numbers)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


async def next_number(db: AsyncSession, name: str) -> int:
    """Next value of a counter, inside the caller's transaction (row-locked on PostgreSQL)."""
    result = await db.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    )
    value = result.scalar_one_or_none()
    if value is None:
        await db.execute(insert_ignoring_duplicates(db, Counter).values(name=name, value=0))
        return await next_number(db, name)
    return int(value)
