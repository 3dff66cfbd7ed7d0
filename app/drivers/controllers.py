"""HTTP: sign-in and refresh, the current user, and id tokens (operator)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import AUTH_PROBLEMS, BEARER_SECURITY, OPERATOR_PROBLEMS, requires_user
from app.core.http import PageParams, problems
from app.drivers.errors import (
    IdTokenAlreadyExists,
    InvalidCredentials,
    InvalidIdToken,
    InvalidToken,
    RefreshTokenReused,
    UserNotFound,
)
from app.drivers.models import User
from app.drivers.schemas import (
    IdTokenIn,
    IdTokenOut,
    IdTokenPageOut,
    LoginIn,
    RefreshIn,
    TokenOut,
    UserOut,
)
from app.drivers.service import IdTokenService, UserService


def provide_users(db: NamedDependency[AsyncSession], state: State) -> UserService:
    return UserService(db, state.settings.auth)


def provide_id_tokens(db: NamedDependency[AsyncSession]) -> IdTokenService:
    return IdTokenService(db)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ("auth",)
    dependencies = {"users": Provide(provide_users, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/token",
        operation_id="IssueToken",
        status_code=200,
        summary="Sign in with email and password",
        responses=problems(InvalidCredentials),
    )
    async def issue_token(self, data: JSONBody[LoginIn], users: NamedDependency[UserService]) -> TokenOut:
        return TokenOut.of(await users.sign_in(data.email, data.password))

    @post(
        "/refresh",
        operation_id="RefreshToken",
        status_code=200,
        summary="Spend a refresh token for a new pair",
        description="Each refresh token is good once; reusing one revokes all tokens descended from the same sign-in.",
        responses=problems(InvalidToken, RefreshTokenReused),
    )
    async def refresh(self, data: JSONBody[RefreshIn], users: NamedDependency[UserService]) -> TokenOut:
        return TokenOut.of(await users.refresh(data.refresh_token))


class MeController(Controller):
    path = "/api/v1/me"
    tags = ("auth",)
    guards = (requires_user,)
    security = BEARER_SECURITY

    @get("/", operation_id="GetMe", summary="The signed-in user", responses=problems(*AUTH_PROBLEMS))
    async def me(self, current_user: NamedDependency[User]) -> UserOut:
        return UserOut.of(current_user)


class IdTokenController(Controller):
    """Mounted under the operator router, which requires the operator role."""

    path = "/id-tokens"
    tags = ("id-tokens",)
    dependencies = {"id_tokens": Provide(provide_id_tokens, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", operation_id="ListIdTokens", responses=problems(*OPERATOR_PROBLEMS))
    async def list_id_tokens(
        self, page: NamedDependency[PageParams], id_tokens: NamedDependency[IdTokenService]
    ) -> IdTokenPageOut:
        rows = await id_tokens.list(limit=page.limit, offset=page.offset)
        return IdTokenPageOut(
            items=[IdTokenOut.of(r) for r in rows],
            total=await id_tokens.count(),
            limit=page.limit,
            offset=page.offset,
        )

    @post(
        "/",
        operation_id="CreateIdToken",
        responses=problems(*OPERATOR_PROBLEMS, InvalidIdToken, UserNotFound, IdTokenAlreadyExists),
    )
    async def create_id_token(
        self, data: JSONBody[IdTokenIn], id_tokens: NamedDependency[IdTokenService]
    ) -> IdTokenOut:
        row = await id_tokens.create(
            data.token,
            type=data.type,
            status=data.status,
            expires_at=data.expires_at,
            user_id=data.user_id,
            group_token=data.group_token,
            label=data.label,
        )
        return IdTokenOut.of(row)
