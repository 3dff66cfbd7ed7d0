"""Tokens module, receiver interface: GET, PUT, PATCH
/ocpi/2.2.1/tokens/{country_code}/{party_id}/{token_uid}[?type=RFID]."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.envelope import ok
from app.roaming.models import OcpiPartner
from app.roaming.paths import module_path
from app.roaming.tokens.schemas import decode_body
from app.roaming.tokens.service import TokenService, token_type

TOKEN_PATH = "/{country_code:str}/{party_id:str}/{token_uid:str}"


class TokenReceiverController(Controller):
    path = module_path("tokens")

    @get(TOKEN_PATH)
    async def get_token(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        country_code: FromPath[str],
        party_id: FromPath[str],
        token_uid: FromPath[str],
    ) -> Response[bytes]:
        type_ = token_type(request.query_params.get("type"))
        return ok(request, await TokenService(db, partner).get(country_code, party_id, token_uid, type_))

    @put(TOKEN_PATH)
    async def put_token(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        country_code: FromPath[str],
        party_id: FromPath[str],
        token_uid: FromPath[str],
    ) -> Response[bytes]:
        type_ = token_type(request.query_params.get("type"))
        body = decode_body(await request.body())
        await TokenService(db, partner).put(country_code, party_id, token_uid, type_, body)
        return ok(request)

    @patch(TOKEN_PATH)
    async def patch_token(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[OcpiPartner],
        country_code: FromPath[str],
        party_id: FromPath[str],
        token_uid: FromPath[str],
    ) -> Response[bytes]:
        type_ = token_type(request.query_params.get("type"))
        body = decode_body(await request.body())
        await TokenService(db, partner).patch(country_code, party_id, token_uid, type_, body)
        return ok(request)
