"""HTTP (driver app): sign-up. Here rather than beside sign-in (app/drivers) because it
mails, through the notify outbox, which the accounts area sits below.

Sign-up answers 202 with the same body whether or not the email is registered; only the
mailbox learns which (a verification link, or a note that the account exists), so the API
cannot be used to find out who has an account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.http import problems
from app.drivers.controllers import PASSWORD_PROBLEMS, RATE_LIMIT_HANDLERS, client_address, provide_users
from app.drivers.errors import SignUpRateLimited
from app.drivers.schemas import SignUpIn, SignUpOut
from app.drivers.service import VERIFICATION_TTL_S, SignUpMail, UserService
from app.notify.outbox import Outbox


def verification_link(base_url: str, token: str) -> str:
    """The link in the mail: the app opens it (a universal / app link on the API's host) and
    calls POST /api/v1/auth/verify with the token and the password."""
    return f"{base_url}/verify?token={quote(token)}"


async def queue_sign_up_mail(db: AsyncSession, base_url: str, mail: SignUpMail, now: datetime) -> None:
    """Queue one sign-up mail in ``db``'s transaction (the sign-up commits it)."""
    if mail.kind == "verify":
        assert mail.token is not None
        hours = VERIFICATION_TTL_S // 3600
        await Outbox(db).enqueue(
            kind="signup_verify",
            key=f"signup-verify:{mail.token[-43:]}",
            to=mail.to,
            subject="Confirm your Laddnät account",
            text=(
                "Someone, hopefully you, asked for a Laddnät account with this address.\n"
                f"To finish, open this link on your phone with the Laddnät app (good for {hours} hours):\n\n"
                f"{verification_link(base_url, mail.token)}\n\n"
                "and enter the password you chose. If it was not you, ignore this mail.\n"
            ),
        )
    else:
        # Once a day at most, so repeated sign-ups cannot flood the owner's mailbox.
        await Outbox(db).enqueue(
            kind="signup_existing",
            key=f"signup-existing:{mail.to}:{now.astimezone(UTC).date().isoformat()}",
            to=mail.to,
            subject="Your Laddnät account",
            text=(
                "Someone, hopefully you, tried to sign up for Laddnät with this address, which already has "
                "an account. Sign in with your password instead. If it was not you, ignore this mail: "
                "nothing changed.\n"
            ),
        )


class SignUpController(Controller):
    path = "/api/v1/auth"
    tags = ("auth",)
    dependencies = {"users": Provide(provide_users, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)
    exception_handlers = RATE_LIMIT_HANDLERS

    @post(
        "/signup",
        operation_id="SignUp",
        status_code=202,
        summary="Ask for a driver account: a link to finish it is mailed",
        description="Passwords are 10 to 1024 characters and not the email address. Every accepted "
        "request is 202 with the same body, whether the email is new or registered: a new address gets "
        "a link to verify it (POST /api/v1/auth/verify with the token and this password signs in); the "
        "owner of a registered one gets a note instead. Sign-ups per client address are limited: 429 "
        "`auth.signup_rate_limited` with Retry-After.",
        responses=problems(*PASSWORD_PROBLEMS, SignUpRateLimited),
    )
    async def sign_up(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignUpIn],
        users: NamedDependency[UserService],
        state: State,
    ) -> SignUpOut:
        base_url = state.settings.http.public_base_url

        async def mail(message: SignUpMail) -> None:
            await queue_sign_up_mail(users.db, base_url, message, users.clock())

        await users.sign_up(data.email, data.password, mail=mail, address=client_address(request))
        state.mail_worker.poke()
        return SignUpOut()
