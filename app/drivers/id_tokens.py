"""The id tokens (RFID cards, eMAIDs) chargers authorise: an operator company's cards, and a
driver's own linked in the app. Each public method owns its database transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import claim
from app.drivers.errors import (
    IdTokenAlreadyExists,
    IdTokenNotFound,
    IdTokenOperatorCard,
    IdTokenTaken,
    InvalidIdToken,
    UserNotFound,
)
from app.drivers.models import IdToken, User

# OCPP 2.0.1 IdTokenEnumType; 1.6 chargers only send idTags, stored as ISO14443.
ID_TOKEN_TYPES = frozenset(
    {"Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"}
)
ID_TOKEN_STATUSES = frozenset({"Accepted", "Blocked", "Expired"})
MAX_ID_TOKEN_LENGTH = 36


class IdTokenService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[IdToken]:
        stmt = select(IdToken).order_by(IdToken.created_at, IdToken.id).limit(limit).offset(offset)
        return (await self.db.scalars(stmt)).all()

    async def count(self) -> int:
        return int(await self.db.scalar(select(func.count()).select_from(IdToken)) or 0)

    async def create(
        self,
        token: str,
        *,
        type: str = "ISO14443",
        status: str = "Accepted",
        expires_at: datetime | None = None,
        user_id: uuid.UUID | None = None,
        group_token: str | None = None,
        label: str | None = None,
        operator_id: uuid.UUID | None = None,
    ) -> IdToken:
        """``operator_id``: the operator company registering the card (it owns the card)."""
        if not 1 <= len(token) <= MAX_ID_TOKEN_LENGTH:
            raise InvalidIdToken(f"token: 1 to {MAX_ID_TOKEN_LENGTH} characters", field="token")
        if type not in ID_TOKEN_TYPES:
            raise InvalidIdToken(f"type: one of {', '.join(sorted(ID_TOKEN_TYPES))}", field="type")
        if status not in ID_TOKEN_STATUSES:
            raise InvalidIdToken("status: Accepted, Blocked or Expired", field="status")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidIdToken("expiresAt needs a time zone", field="expiresAt")
            expires_at = expires_at.astimezone(UTC)
        if group_token is not None and not 1 <= len(group_token) <= MAX_ID_TOKEN_LENGTH:
            raise InvalidIdToken(f"groupToken: 1 to {MAX_ID_TOKEN_LENGTH} characters", field="groupToken")
        if user_id is not None and await self.db.get(User, user_id) is None:
            raise UserNotFound(field="userId")
        if await self.db.scalar(select(IdToken.id).where(IdToken.token == token)) is not None:
            raise IdTokenAlreadyExists(f"{token!r} is already registered", field="token")
        row = IdToken(
            token=token,
            type=type,
            status=status,
            expires_at=expires_at,
            user_id=user_id,
            group_token=group_token,
            label=label,
            operator_id=operator_id,
        )
        self.db.add(row)
        try:
            await self.db.commit()
        except IntegrityError:
            await self.db.rollback()
            raise IdTokenAlreadyExists(f"{token!r} is already registered", field="token") from None
        return row

    # -- a driver's own tokens ---------------------------------------------------------

    async def list_for_user(self, user_id: uuid.UUID, *, limit: int = 100, offset: int = 0) -> Sequence[IdToken]:
        stmt = (
            select(IdToken)
            .where(IdToken.user_id == user_id)
            .order_by(IdToken.created_at, IdToken.id)
            .limit(limit)
            .offset(offset)
        )
        return (await self.db.scalars(stmt)).all()

    async def count_for_user(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(IdToken).where(IdToken.user_id == user_id)
        return int(await self.db.scalar(stmt) or 0)

    async def link(self, user_id: uuid.UUID, token: str, *, type: str, label: str | None = None) -> IdToken:
        """Link ``token`` to the user: a new one is registered, the user's own is returned
        (label updated). Someone else's is IdTokenTaken; one an operator registered (or,
        from before cards had an operator, one nobody owns) is IdTokenOperatorCard: a card
        number is no proof of holding the card, so it is never taken over."""
        if not 1 <= len(token) <= MAX_ID_TOKEN_LENGTH or token != token.strip():
            raise InvalidIdToken(f"token: 1 to {MAX_ID_TOKEN_LENGTH} characters, no surrounding spaces", field="token")
        if type not in ID_TOKEN_TYPES:
            raise InvalidIdToken(f"type: one of {', '.join(sorted(ID_TOKEN_TYPES))}", field="type")
        row = await self.db.scalar(select(IdToken).where(IdToken.token == token))
        if row is None:
            row = IdToken(token=token, type=type, user_id=user_id, label=label)
            self.db.add(row)
            try:
                await self.db.commit()
            except IntegrityError:
                # Registered at the same moment by someone else (a driver or an operator).
                await self.db.rollback()
                raise IdTokenTaken(field="token") from None
            return row
        if row.user_id == user_id:
            if label is not None:
                row.label = label
            await self.db.commit()
            return row
        if row.user_id is None:
            raise IdTokenOperatorCard(field="token")
        raise IdTokenTaken(field="token")

    async def remove_for_user(self, user_id: uuid.UUID, id_token_id: uuid.UUID) -> None:
        """Chargers stop accepting the user's own card (a lost card): it is deleted. A card
        an operator registered and gave the user is only unlinked: the operator's record
        stays. Someone else's is IdTokenNotFound. Past sessions stay the user's."""
        row = await self.db.scalar(select(IdToken).where(IdToken.id == id_token_id, IdToken.user_id == user_id))
        if row is None:
            raise IdTokenNotFound()
        if row.operator_id is not None:
            stmt: Any = update(IdToken).where(IdToken.id == row.id, IdToken.user_id == user_id).values(user_id=None)
        else:
            stmt = delete(IdToken).where(IdToken.id == row.id, IdToken.user_id == user_id)
        if not await claim(self.db, stmt):
            await self.db.rollback()
            raise IdTokenNotFound()
        await self.db.commit()

    # -- an operator company's cards (the operator API) ----------------------------------

    async def list_of_operator(self, operator_id: uuid.UUID, *, limit: int = 100, offset: int = 0) -> Sequence[IdToken]:
        """The cards ``operator_id`` registered; another company's are never listed."""
        stmt = select(IdToken).where(IdToken.operator_id == operator_id)
        stmt = stmt.order_by(IdToken.created_at, IdToken.id).limit(limit).offset(offset)
        return (await self.db.scalars(stmt)).all()

    async def count_of_operator(self, operator_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(IdToken).where(IdToken.operator_id == operator_id)
        return int(await self.db.scalar(stmt) or 0)
