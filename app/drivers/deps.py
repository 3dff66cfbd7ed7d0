"""The signed-in account for the core auth guards (app/core/auth.py) and for handlers."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import authenticated_user
from app.drivers.models import User
from app.drivers.service import UserService


async def load_active_user(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The ``ActiveUserLoader`` app/main.py puts on ``app.state.load_active_user``."""
    return await UserService(db).get_active(user_id)


async def signed_in_user(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The caller of a request or WebSocket (resolved by a guard, or here)."""
    user = await authenticated_user(connection)
    assert isinstance(user, User)  # load_active_user is the only loader: it returns Users
    return user


async def provide_current_user(request: Request[Any, Any, Any]) -> User:
    """Dependency ``current_user``: the caller."""
    return await signed_in_user(request)
