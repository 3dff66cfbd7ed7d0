"""HTTP (operator): send a command to a charger and get its answer.

It sits with the sessions, above the chargers' area, because a remote stop names our
transaction: ``CommandService`` (app/sessions/commands.py) resolves it to the charger's
own transaction id. The charger's audit log and diagnostics are app/chargers/command_controllers.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.commands import COMMANDS
from app.chargers.errors import (
    ChargerCallError,
    ChargerNotFound,
    ChargerOffline,
    ChargerTimeout,
    CommandNotSupported,
    CommandsUnavailable,
    UnknownCommand,
)
from app.chargers.schemas import CommandOut
from app.core.auth import OPERATOR_PROBLEMS, Caller, can_operate
from app.core.errors import InvalidInput
from app.core.http import problems
from app.sessions.commands import CommandService
from app.sessions.errors import TransactionNotActive, TransactionNotFound


def provide_commands(db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID) -> CommandService:
    # Scoped to the caller's tenant: another operator company's charger is not found and
    # gets nothing.
    return CommandService.of(db, state.bus, state.settings, tenant_id=tenant_id)


async def _json_object(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as err:
        raise InvalidInput(f"the body is not JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidInput("the body must be a JSON object of the command's arguments")
    return value


class SendCommandController(Controller):
    path = "/chargers/{charger_id:uuid}"
    tags = ("commands",)
    dependencies = {"commands": Provide(provide_commands, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/commands/{name:str}",
        operation_id="SendCommand",
        summary="Send a command to the charger and return its answer",
        description=(
            f"`name` is one of: {', '.join(COMMANDS)} (unknown: 404 command.unknown). "
            "The body is the command's arguments (a JSON object; see the README for each command). "
            "Offline: 409 charger.offline. No answer in time: 504 charger.timeout. CALLERROR from the "
            "charger: 502 charger.error with ocppErrorCode. Invalid arguments: 422 request.invalid with the field. "
            "Every attempt is in the audit log (GET .../commands)."
        ),
        status_code=200,
        guards=[can_operate],
        responses=problems(
            *OPERATOR_PROBLEMS,
            ChargerNotFound,
            UnknownCommand,
            CommandNotSupported,
            TransactionNotFound,
            TransactionNotActive,
            ChargerOffline,
            CommandsUnavailable,
            ChargerTimeout,
            ChargerCallError,
        ),
    )
    async def send(
        self,
        charger_id: FromPath[uuid.UUID],
        name: FromPath[str],
        request: Request[Any, Any, Any],
        commands: NamedDependency[CommandService],
        caller: NamedDependency[Caller],
    ) -> CommandOut:
        args = await _json_object(request)
        # The audit log names the user; an API key's command is the operator's own (no user).
        by = caller.id if caller.kind == "user" else None
        return CommandOut.of(await commands.send(charger_id, name, args, by=by))
