"""HTTP: sign-in, sign-up verification, refresh and logout (sign-up itself mails, so it is
app/driver_app/signup_controllers.py); the current user, their password, id tokens
and saved cards (/api/v1/me, any role); id tokens for operators."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, cast

from litestar import Controller, Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter, JSONBody
from litestar.types import ExceptionHandlersMap
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import AUTH_PROBLEMS, BEARER_SECURITY, OPERATOR_PROBLEMS, can_operate, requires_user
from app.core.database import utcnow
from app.core.errors import InvalidToken
from app.core.http import PageParams, problem_response, problems
from app.drivers.errors import (
    IdTokenAlreadyExists,
    IdTokenNotFound,
    IdTokenOperatorCard,
    IdTokenTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidIdToken,
    InvalidVerification,
    LoginRateLimited,
    PasswordIsEmail,
    PasswordTooLong,
    PaymentMethodNotFound,
    RefreshTokenReused,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from app.drivers.id_tokens import IdTokenService
from app.drivers.models import User
from app.drivers.payment_methods import PaymentMethodService
from app.drivers.schemas import (
    ChangePasswordIn,
    IdTokenIn,
    IdTokenOut,
    IdTokenPageOut,
    LoginIn,
    MyIdTokenIn,
    MyIdTokenOut,
    MyIdTokenPageOut,
    PaymentMethodListOut,
    PaymentMethodOut,
    PaymentMethodSetupOut,
    RefreshIn,
    TokenOut,
    UserOut,
    VerifyIn,
)
from app.drivers.service import UserService
from payments.errors import PaymentsNotConfigured, ProviderUnavailable

PASSWORD_PROBLEMS = (InvalidEmail, WeakPassword, PasswordTooLong, PasswordIsEmail)


def provide_users(db: NamedDependency[AsyncSession], state: State) -> UserService:
    # ``state.clock``: tests set one to move time on; the real clock otherwise.
    return UserService(db, state.settings.auth, clock=state.get("clock", utcnow), providers=state.providers)


def provide_id_tokens(db: NamedDependency[AsyncSession]) -> IdTokenService:
    return IdTokenService(db)


def provide_payment_methods(db: NamedDependency[AsyncSession], state: State) -> PaymentMethodService:
    return PaymentMethodService(db, state.providers)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The peer's address. Behind a proxy, run uvicorn with --proxy-headers and
    --forwarded-allow-ips, so this is the client's rather than the proxy's."""
    return connection.client.host if connection.client else None


def handle_rate_limited(request: Request[Any, Any, Any], exc: LoginRateLimited) -> Response[bytes]:
    """The problem, plus Retry-After: the seconds until the counting window ends."""
    retry_after = str(exc.extra.get("retry_after_s", 1))
    return problem_response(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, headers={"Retry-After": retry_after}
    )


RATE_LIMIT_HANDLERS: ExceptionHandlersMap = {LoginRateLimited: handle_rate_limited}


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ("auth",)
    dependencies = {"users": Provide(provide_users, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)
    exception_handlers = RATE_LIMIT_HANDLERS

    @post(
        "/token",
        operation_id="IssueToken",
        status_code=200,
        summary="Sign in with email and password",
        description="Failed attempts of one account from one client address back off (5 free, then a "
        "wait that doubles from 30 s to 15 min); failures from one address over all accounts are limited "
        "too. While limited the answer is 429 `auth.rate_limited` with Retry-After, whatever the password. "
        "The account is never locked for everyone: the right password from another address works.",
        responses=problems(InvalidCredentials, LoginRateLimited),
    )
    async def issue_token(
        self, request: Request[Any, Any, Any], data: JSONBody[LoginIn], users: NamedDependency[UserService]
    ) -> TokenOut:
        return TokenOut.of(await users.sign_in(data.email, data.password, address=client_address(request)))

    @post(
        "/verify",
        operation_id="VerifySignUp",
        status_code=200,
        summary="Follow the sign-up link: verify the email and sign in",
        description="The token from the mailed link and the password chosen at sign-up. A link that is "
        "unknown, expired or used, or a wrong password, is 400 `auth.invalid_verification`; wrong "
        "passwords count like failed sign-ins.",
        responses=problems(InvalidVerification, LoginRateLimited),
    )
    async def verify(
        self, request: Request[Any, Any, Any], data: JSONBody[VerifyIn], users: NamedDependency[UserService]
    ) -> TokenOut:
        return TokenOut.of(await users.verify(data.token, data.password, address=client_address(request)))

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

    @post(
        "/logout",
        operation_id="LogOut",
        status_code=204,
        summary="End one sign-in",
        description="Revokes the refresh token and every token rotated from the same sign-in. "
        "Access tokens already issued live out their short lifetime; use logout-all to end them too.",
        responses=problems(InvalidToken),
    )
    async def log_out(self, data: JSONBody[RefreshIn], users: NamedDependency[UserService]) -> None:
        await users.log_out(data.refresh_token)

    @post(
        "/logout-all",
        operation_id="LogOutEverywhere",
        status_code=204,
        summary="End every sign-in of the caller",
        description="Revokes every refresh token of the user and every access token issued so far, "
        "this request's included.",
        guards=[requires_user],
        security=BEARER_SECURITY,
        responses=problems(*AUTH_PROBLEMS),
    )
    async def log_out_everywhere(
        self, current_user: NamedDependency[User], users: NamedDependency[UserService]
    ) -> None:
        await users.log_out_everywhere(current_user.id)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ("auth",)
    guards = (requires_user,)
    security = BEARER_SECURITY
    dependencies = {"users": Provide(provide_users, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)
    exception_handlers = RATE_LIMIT_HANDLERS

    @get("/", operation_id="GetMe", summary="The signed-in user", responses=problems(*AUTH_PROBLEMS))
    async def me(self, current_user: NamedDependency[User]) -> UserOut:
        return UserOut.of(current_user)

    @post(
        "/password",
        operation_id="ChangePassword",
        status_code=200,
        summary="Change the password",
        description="Wrong current passwords count like failed sign-ins. On success every other "
        "token of the user is revoked (as by logout-all) and a fresh pair is returned.",
        responses=problems(
            *AUTH_PROBLEMS, WrongPassword, WeakPassword, PasswordTooLong, PasswordIsEmail, LoginRateLimited
        ),
    )
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ChangePasswordIn],
        current_user: NamedDependency[User],
        users: NamedDependency[UserService],
    ) -> TokenOut:
        pair = await users.change_password(
            current_user.id, data.current_password, data.new_password, address=client_address(request)
        )
        return TokenOut.of(pair)


class MyIdTokenController(Controller):
    """The caller's RFID cards and app tokens; another user's is simply not found."""

    path = "/api/v1/me/id-tokens"
    tags = ("me",)
    guards = (requires_user,)
    security = BEARER_SECURITY
    dependencies = {"id_tokens": Provide(provide_id_tokens, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", operation_id="ListMyIdTokens", summary="My RFID cards and app tokens", responses=problems(*AUTH_PROBLEMS))
    async def list_my_id_tokens(
        self,
        current_user: NamedDependency[User],
        page: NamedDependency[PageParams],
        id_tokens: NamedDependency[IdTokenService],
    ) -> MyIdTokenPageOut:
        rows = await id_tokens.list_for_user(current_user.id, limit=page.limit, offset=page.offset)
        return MyIdTokenPageOut(
            items=[MyIdTokenOut.of(r) for r in rows],
            total=await id_tokens.count_for_user(current_user.id),
            limit=page.limit,
            offset=page.offset,
        )

    @post(
        "/",
        operation_id="LinkMyIdToken",
        summary="Link an RFID card or app token to my account",
        description="A new token is registered; linking my own again updates its label. A card another "
        "driver holds is 409 `id_token.taken`; one an operator registered is 409 `id_token.operator_card` "
        "(the operator assigns it). Sessions started with it while it is mine show up as mine.",
        responses=problems(*AUTH_PROBLEMS, InvalidIdToken, IdTokenTaken, IdTokenOperatorCard),
    )
    async def link_my_id_token(
        self,
        data: JSONBody[MyIdTokenIn],
        current_user: NamedDependency[User],
        id_tokens: NamedDependency[IdTokenService],
    ) -> MyIdTokenOut:
        row = await id_tokens.link(current_user.id, data.token, type=data.type, label=data.label)
        return MyIdTokenOut.of(row)

    @delete(
        "/{id_token_id:uuid}",
        operation_id="DeleteMyIdToken",
        summary="Remove one of my id tokens",
        description="My own card is deleted: chargers stop accepting it (a lost card). A card an operator "
        "registered is only unlinked from me and stays the operator's. Past sessions stay mine.",
        responses=problems(*AUTH_PROBLEMS, IdTokenNotFound),
    )
    async def delete_my_id_token(
        self,
        id_token_id: uuid.UUID,
        current_user: NamedDependency[User],
        id_tokens: NamedDependency[IdTokenService],
    ) -> None:
        await id_tokens.remove_for_user(current_user.id, id_token_id)


class MyPaymentMethodController(Controller):
    """The caller's saved cards, kept at the PSP; another user's is simply not found."""

    path = "/api/v1/me/payment-methods"
    tags = ("me",)
    guards = (requires_user,)
    security = BEARER_SECURITY
    dependencies = {"payment_methods": Provide(provide_payment_methods, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/setup",
        operation_id="SetUpPaymentMethod",
        status_code=200,
        summary="Start saving a card in the PSP's mobile SDK",
        description="Stripe: confirm the SetupIntent (`clientSecret`) with `publishableKey`. Adyen: open a "
        "Drop-in session (`sessionId`, `sessionData`) with `clientKey` in `environment`. Send an "
        "Idempotency-Key to get the same answer when retrying a request.",
        responses=problems(*AUTH_PROBLEMS, PaymentsNotConfigured, ProviderUnavailable),
    )
    async def set_up_payment_method(
        self,
        state: State,
        current_user: NamedDependency[User],
        payment_methods: NamedDependency[PaymentMethodService],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=255, required=False)
        ] = None,
    ) -> PaymentMethodSetupOut:
        name, setup = await payment_methods.setup(current_user, idempotency_key)
        payments = state.settings.payments
        provider = cast(Literal["stripe", "adyen"], name)
        if provider == "stripe":
            public_key = payments.stripe.publishable_key if payments.stripe else None
            environment = None
        else:
            public_key = payments.adyen.client_key if payments.adyen else None
            environment = payments.adyen.environment if payments.adyen else None
        return PaymentMethodSetupOut.of(provider, setup, public_key=public_key, environment=environment)

    @get(
        "/",
        operation_id="ListMyPaymentMethods",
        summary="My saved cards",
        responses=problems(*AUTH_PROBLEMS, PaymentsNotConfigured, ProviderUnavailable),
    )
    async def list_my_payment_methods(
        self, current_user: NamedDependency[User], payment_methods: NamedDependency[PaymentMethodService]
    ) -> PaymentMethodListOut:
        name = payment_methods.provider_name()
        methods = await payment_methods.saved(current_user.id, provider=name)
        return PaymentMethodListOut(
            provider=cast(Literal["stripe", "adyen"], name), items=[PaymentMethodOut.of(m) for m in methods]
        )

    @delete(
        "/{method_id:str}",
        operation_id="DeleteMyPaymentMethod",
        summary="Remove a saved card",
        description="It is no longer listed or charged.",
        responses=problems(*AUTH_PROBLEMS, PaymentMethodNotFound, PaymentsNotConfigured, ProviderUnavailable),
    )
    async def delete_my_payment_method(
        self,
        method_id: str,
        current_user: NamedDependency[User],
        payment_methods: NamedDependency[PaymentMethodService],
    ) -> None:
        await payment_methods.remove(current_user.id, method_id)


class IdTokenController(Controller):
    """Mounted under the operator router (any tenant role reads); an operator company sees
    and registers its own cards only."""

    path = "/id-tokens"
    tags = ("id-tokens",)
    dependencies = {"id_tokens": Provide(provide_id_tokens, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/",
        operation_id="ListIdTokens",
        summary="The cards the operator company registered",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_id_tokens(
        self,
        page: NamedDependency[PageParams],
        id_tokens: NamedDependency[IdTokenService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> IdTokenPageOut:
        rows = await id_tokens.list_of_operator(tenant_id, limit=page.limit, offset=page.offset)
        return IdTokenPageOut(
            items=[IdTokenOut.of(r) for r in rows],
            total=await id_tokens.count_of_operator(tenant_id),
            limit=page.limit,
            offset=page.offset,
        )

    @post(
        "/",
        operation_id="CreateIdToken",
        summary="Register a card of the operator company",
        guards=[can_operate],
        responses=problems(*OPERATOR_PROBLEMS, InvalidIdToken, UserNotFound, IdTokenAlreadyExists),
    )
    async def create_id_token(
        self,
        data: JSONBody[IdTokenIn],
        id_tokens: NamedDependency[IdTokenService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> IdTokenOut:
        row = await id_tokens.create(
            data.token,
            type=data.type,
            status=data.status,
            expires_at=data.expires_at,
            user_id=data.user_id,
            group_token=data.group_token,
            label=data.label,
            operator_id=tenant_id,
        )
        return IdTokenOut.of(row)
