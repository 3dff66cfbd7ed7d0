"""HTTP: POST /ocpi/2.2.1/commands/{command} (Commands module, CPO receiver)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.commands.schemas import decode
from app.roaming.commands.service import CommandReceiver, Reply
from app.roaming.envelope import Status, envelope, ok
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path


def reply(request: Request[Any, Any, Any], answer: Reply) -> Response[bytes]:
    """The response object in the envelope; a refusal with its OCPI status (2003 for an
    unknown location) still carries it, as the spec's examples do, with HTTP 200: the
    request reached the OCPI layer (the router's middleware adds the echoed headers)."""
    if answer.queued:
        worker = request.app.state.get("ocpi_command_worker")
        if worker is not None:
            worker.poke()
    if answer.status is Status.SUCCESS:
        return ok(request, answer.body)
    return Response(
        msgspec.json.encode(envelope(answer.body, answer.status, answer.message)),
        status_code=200,
        media_type="application/json",
    )


class CommandsController(Controller):
    path = module_path("commands")

    @post("/{command:str}", status_code=200)
    async def receive(
        self,
        command: FromPath[str],
        request: Request[Any, State, Any],
        partner: NamedDependency[OcpiPartner],
        db: NamedDependency[AsyncSession],
    ) -> Response[bytes]:
        kind = command.upper()
        body = decode(kind, await request.body())
        receiver = CommandReceiver(db, request.app.state.settings)
        return reply(request, await receiver.receive(partner, kind, body))
