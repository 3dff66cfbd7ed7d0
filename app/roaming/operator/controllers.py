"""HTTP (operator): a tenant's OCPI roaming partners. Mounted under the operator router."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS, can_administer
from app.core.http import PageParams, problems
from app.roaming.models import OcpiPartner
from app.roaming.operator.errors import (
    MissingEndpoints,
    NoMutualVersion,
    PartnerNotFound,
    PartnerNotRegistered,
    PartnerUnusable,
    PartyAlreadyRegistered,
)
from app.roaming.operator.schemas import (
    PartnerOut,
    PartnerPageOut,
    PartnerRegistrationIn,
    PartnerTokenIn,
    PartnerTokenOut,
    PushOut,
    PushPageOut,
)
from app.roaming.operator.service import PartnerService

HANDSHAKE_PROBLEMS = (PartnerUnusable, NoMutualVersion, MissingEndpoints, PartyAlreadyRegistered)


def provide_partners(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> PartnerService:
    return PartnerService(db, state.settings, tenant_id=tenant_id)


class RoamingPartnerController(Controller):
    """OCPI 2.2.1 partners (eMSPs, hubs) of the caller's company; see docs/ocpi.md."""

    path = "/roaming/partners"
    tags = ("roaming",)
    dependencies = {"partners": Provide(provide_partners, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", operation_id="ListRoamingPartners", responses=problems(*OPERATOR_PROBLEMS))
    async def list_partners(
        self, page: NamedDependency[PageParams], partners: NamedDependency[PartnerService]
    ) -> PartnerPageOut:
        rows, total = await partners.list(limit=page.limit, offset=page.offset)
        stats = await partners.push_stats([p.id for p in rows])
        items = [PartnerOut.of(p, stats.get(p.id)) for p in rows]
        return PartnerPageOut(items=items, total=total, limit=page.limit, offset=page.offset)

    @get(
        "/{partner_id:uuid}",
        operation_id="GetRoamingPartner",
        responses=problems(*OPERATOR_PROBLEMS, PartnerNotFound),
    )
    async def get_partner(
        self, partner_id: FromPath[uuid.UUID], partners: NamedDependency[PartnerService]
    ) -> PartnerOut:
        return await _out(partners, await partners.get(partner_id))

    @post(
        "/tokens",
        operation_id="IssueRoamingToken",
        guards=[can_administer],
        summary="A credentials token A for a new partner to register with; shown in this answer only",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def issue_token(
        self, data: JSONBody[PartnerTokenIn], partners: NamedDependency[PartnerService]
    ) -> PartnerTokenOut:
        partner, token = await partners.issue_token(data.name)
        return PartnerTokenOut(partner=PartnerOut.of(partner), token=token, versions_url=partners.our_versions_url())

    @post(
        "/registrations",
        operation_id="RegisterRoamingPartner",
        guards=[can_administer],
        summary="Register with a partner, given its versions URL and the token A it gave us",
        responses=problems(*OPERATOR_PROBLEMS, *HANDSHAKE_PROBLEMS),
    )
    async def register(
        self, data: JSONBody[PartnerRegistrationIn], partners: NamedDependency[PartnerService]
    ) -> PartnerOut:
        return PartnerOut.of(await partners.register_with(data.versions_url, data.token, name=data.name))

    @put(
        "/{partner_id:uuid}/registration",
        operation_id="UpdateRoamingRegistration",
        guards=[can_administer],
        summary="Send the partner new credentials (a new token) and read its endpoints again",
        responses=problems(*OPERATOR_PROBLEMS, PartnerNotFound, PartnerNotRegistered, *HANDSHAKE_PROBLEMS),
    )
    async def update_registration(
        self, partner_id: FromPath[uuid.UUID], partners: NamedDependency[PartnerService]
    ) -> PartnerOut:
        return PartnerOut.of(await partners.update_with(partner_id))

    @delete(
        "/{partner_id:uuid}",
        operation_id="UnregisterRoamingPartner",
        guards=[can_administer],
        summary="Unregister: the partner is told (DELETE credentials) and its tokens stop working",
        responses=problems(*OPERATOR_PROBLEMS, PartnerNotFound),
    )
    async def unregister(self, partner_id: FromPath[uuid.UUID], partners: NamedDependency[PartnerService]) -> None:
        await partners.unregister(partner_id)

    @post(
        "/{partner_id:uuid}/suspension",
        operation_id="SuspendRoamingPartner",
        guards=[can_administer],
        status_code=200,
        summary="Suspend: the partner's calls answer 403, its tokens authorise nothing, our pushes wait",
        responses=problems(*OPERATOR_PROBLEMS, PartnerNotFound, PartnerNotRegistered),
    )
    async def suspend(self, partner_id: FromPath[uuid.UUID], partners: NamedDependency[PartnerService]) -> PartnerOut:
        return await _out(partners, await partners.suspend(partner_id))

    @delete(
        "/{partner_id:uuid}/suspension",
        operation_id="ResumeRoamingPartner",
        guards=[can_administer],
        status_code=200,
        summary="Resume a suspended partner: served again, the pushes held for it go out",
        responses=problems(*OPERATOR_PROBLEMS, PartnerNotFound),
    )
    async def resume(self, partner_id: FromPath[uuid.UUID], partners: NamedDependency[PartnerService]) -> PartnerOut:
        return await _out(partners, await partners.resume(partner_id))

    @get(
        "/{partner_id:uuid}/pushes",
        operation_id="ListRoamingPushes",
        summary="What we sent the partner (or are sending), newest first",
        responses=problems(*OPERATOR_PROBLEMS, PartnerNotFound),
    )
    async def list_pushes(
        self,
        partner_id: FromPath[uuid.UUID],
        page: NamedDependency[PageParams],
        partners: NamedDependency[PartnerService],
    ) -> PushPageOut:
        rows, total = await partners.pushes(partner_id, limit=page.limit, offset=page.offset)
        return PushPageOut(items=[PushOut.of(p) for p in rows], total=total, limit=page.limit, offset=page.offset)


async def _out(partners: PartnerService, partner: OcpiPartner) -> PartnerOut:
    stats = await partners.push_stats([partner.id])
    return PartnerOut.of(partner, stats.get(partner.id))
