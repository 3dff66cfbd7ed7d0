"""HTTP (OCPI): the versions endpoint, our 2.2.1 version details and the credentials module.
Token A reaches these and nothing else (``any_partner``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import digest_secret
from app.roaming.auth import presented_tokens
from app.roaming.envelope import InvalidParameters, ok
from app.roaming.models import OcpiPartner
from app.roaming.paths import MODULES, VERSION, VERSION_PATH, module_path, module_url
from app.roaming.registration.inbound import CredentialsService


def provide_credentials(db: NamedDependency[AsyncSession], state: State) -> CredentialsService:
    return CredentialsService(db, state.settings)


class VersionsController(Controller):
    path = "/"

    @get("/versions")
    async def versions(
        self, request: Request[Any, State, Any], state: State, any_partner: NamedDependency[OcpiPartner]
    ) -> Response[bytes]:
        base = state.settings.http.public_base_url.rstrip("/")
        return ok(request, [{"version": VERSION, "url": base + VERSION_PATH}])

    @get(f"/{VERSION}")
    async def version_details(
        self, request: Request[Any, State, Any], state: State, any_partner: NamedDependency[OcpiPartner]
    ) -> Response[bytes]:
        base = state.settings.http.public_base_url
        endpoints = [{"identifier": m, "role": role, "url": module_url(base, m)} for m, role in MODULES]
        return ok(request, {"version": VERSION, "endpoints": endpoints})


class CredentialsController(Controller):
    """Symmetric module (2.2.1 7.2): GET ours, POST register, PUT update, DELETE unregister."""

    path = module_path("credentials")
    dependencies = {"credentials": Provide(provide_credentials, sync_to_thread=False)}  # noqa: RUF012

    @get("/")
    async def get_credentials(
        self,
        request: Request[Any, State, Any],
        any_partner: NamedDependency[OcpiPartner],
        credentials: NamedDependency[CredentialsService],
    ) -> Response[bytes]:
        return ok(request, await credentials.ours(any_partner, _token_used(request, any_partner)))

    @post("/")
    async def register(
        self,
        request: Request[Any, State, Any],
        any_partner: NamedDependency[OcpiPartner],
        credentials: NamedDependency[CredentialsService],
    ) -> Response[bytes]:
        return ok(request, await credentials.register(any_partner, await _json(request)))

    @put("/")
    async def update(
        self,
        request: Request[Any, State, Any],
        any_partner: NamedDependency[OcpiPartner],
        credentials: NamedDependency[CredentialsService],
    ) -> Response[bytes]:
        return ok(request, await credentials.update(any_partner, await _json(request)))

    @delete("/", status_code=200)
    async def unregister(
        self,
        request: Request[Any, State, Any],
        any_partner: NamedDependency[OcpiPartner],
        credentials: NamedDependency[CredentialsService],
    ) -> Response[bytes]:
        await credentials.unregister(any_partner)
        return ok(request)


def _token_used(request: Request[Any, State, Any], partner: OcpiPartner) -> str:
    """The token the partner called with (the form whose digest we keep)."""
    tokens = presented_tokens(request.headers.get("authorization"))
    return next(t for t in tokens if digest_secret(t) == partner.token_digest)


async def _json(request: Request[Any, State, Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise InvalidParameters(f"the body is not JSON: {exc}") from None
