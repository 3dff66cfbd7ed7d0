"""HTTP (operator): tariffs, where they apply, and price quotes. Mounted under the operator router."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar import Controller, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS, can_bill
from app.core.http import PageParams, problems
from app.tariffs.errors import (
    NoTariff,
    TariffAssignmentNotFound,
    TariffCurrencyMismatch,
    TariffInactive,
    TariffInvalid,
    TariffNotFound,
    TariffTargetNotFound,
)
from app.tariffs.pricing import Reading, Usage, price, price_text
from app.tariffs.schemas import (
    AssignTariffIn,
    EvseTariffOut,
    PriceOut,
    QuoteIn,
    TariffAssignmentOut,
    TariffIn,
    TariffOut,
    TariffPageOut,
    TariffPatchIn,
)
from app.tariffs.service import TariffService, terms_of

ASSIGN_PROBLEMS = (*OPERATOR_PROBLEMS, TariffNotFound, TariffInactive, TariffTargetNotFound)
UNASSIGN_PROBLEMS = (*OPERATOR_PROBLEMS, TariffTargetNotFound, TariffAssignmentNotFound)


def provide_tariffs(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> TariffService:
    # Scoped to the caller's operator company: another's tariffs and targets are not found.
    return TariffService(db, state.bus, tenant_id=tenant_id)


class TariffController(Controller):
    path = "/tariffs"
    tags = ("tariffs",)
    dependencies = {"tariffs": Provide(provide_tariffs, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/",
        operation_id="CreateTariff",
        summary="Create a tariff (version 1) of the caller's operator company",
        guards=[can_bill],
        responses=problems(*OPERATOR_PROBLEMS, TariffInvalid),
    )
    async def create_tariff(self, data: JSONBody[TariffIn], tariffs: NamedDependency[TariffService]) -> TariffOut:
        return TariffOut.of(await tariffs.create(data.terms()))

    @get("/", operation_id="ListTariffs", responses=problems(*OPERATOR_PROBLEMS))
    async def list_tariffs(
        self, page: NamedDependency[PageParams], tariffs: NamedDependency[TariffService]
    ) -> TariffPageOut:
        rows = await tariffs.list(limit=page.limit, offset=page.offset)
        return TariffPageOut(
            items=[TariffOut.of(t) for t in rows],
            total=await tariffs.count(),
            limit=page.limit,
            offset=page.offset,
        )

    @get("/{tariff_id:uuid}", operation_id="GetTariff", responses=problems(*OPERATOR_PROBLEMS, TariffNotFound))
    async def get_tariff(self, tariff_id: FromPath[uuid.UUID], tariffs: NamedDependency[TariffService]) -> TariffOut:
        return TariffOut.of(await tariffs.get(tariff_id))

    @patch(
        "/{tariff_id:uuid}",
        operation_id="UpdateTariff",
        summary="Change a tariff; sessions already started keep the version they started with",
        guards=[can_bill],
        responses=problems(*OPERATOR_PROBLEMS, TariffNotFound, TariffInvalid, TariffCurrencyMismatch),
    )
    async def update_tariff(
        self,
        tariff_id: FromPath[uuid.UUID],
        data: JSONBody[TariffPatchIn],
        tariffs: NamedDependency[TariffService],
    ) -> TariffOut:
        return TariffOut.of(await tariffs.update(tariff_id, data.changes()))

    @post(
        "/{tariff_id:uuid}/quote",
        operation_id="QuoteTariff",
        summary="Price a hypothetical session under this tariff",
        status_code=200,
        responses=problems(*OPERATOR_PROBLEMS, TariffNotFound),
    )
    async def quote(
        self,
        tariff_id: FromPath[uuid.UUID],
        data: JSONBody[QuoteIn],
        tariffs: NamedDependency[TariffService],
    ) -> PriceOut:
        terms = terms_of(await tariffs.get(tariff_id), data.time_zone)
        charged_until = data.start_at + timedelta(minutes=data.charging_minutes)
        usage = Usage(
            started_at=data.start_at,
            readings=(Reading(data.start_at, 0.0), Reading(charged_until, data.energy_kwh * 1000)),
            ended_at=charged_until + timedelta(minutes=data.idle_minutes),
        )
        return PriceOut.of(price(terms, usage))


class TariffAssignmentController(Controller):
    """Which tariff applies where: an EVSE's own, else its location's, else its operator's."""

    path = "/"
    tags = ("tariffs",)
    dependencies = {"tariffs": Provide(provide_tariffs, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/evses/{evse_id:str}/tariff",
        operation_id="GetEvseTariff",
        summary="The tariff in force on an EVSE (eMI3 EVSE ID), with its price text",
        responses=problems(*OPERATOR_PROBLEMS, TariffTargetNotFound, NoTariff),
    )
    async def get_evse_tariff(self, evse_id: FromPath[str], tariffs: NamedDependency[TariffService]) -> EvseTariffOut:
        resolved = await tariffs.resolved(await tariffs.evse_pk(evse_id))
        if resolved is None:
            raise NoTariff(f"no tariff is assigned to {evse_id}, its location or its operator")
        return EvseTariffOut(
            evse_id=evse_id,
            scope=resolved.scope,
            time_zone=resolved.terms.time_zone,
            price_text=price_text(resolved.terms),
            tariff=TariffOut.of(resolved.tariff),
        )

    @put(
        "/evses/{evse_id:str}/tariff",
        operation_id="AssignEvseTariff",
        guards=[can_bill],
        summary="Give an EVSE (eMI3 EVSE ID) its own tariff",
        responses=problems(*ASSIGN_PROBLEMS),
    )
    async def assign_evse(
        self, evse_id: FromPath[str], data: JSONBody[AssignTariffIn], tariffs: NamedDependency[TariffService]
    ) -> TariffAssignmentOut:
        pk = await tariffs.evse_pk(evse_id)
        return TariffAssignmentOut.of(await tariffs.assign("evse", pk, data.tariff_id))

    @delete(
        "/evses/{evse_id:str}/tariff",
        operation_id="UnassignEvseTariff",
        guards=[can_bill],
        summary="Remove an EVSE's own tariff (its location's or operator's applies)",
        responses=problems(*UNASSIGN_PROBLEMS),
    )
    async def unassign_evse(self, evse_id: FromPath[str], tariffs: NamedDependency[TariffService]) -> None:
        await tariffs.unassign("evse", await tariffs.evse_pk(evse_id))

    @put(
        "/locations/{location_id:uuid}/tariff",
        operation_id="AssignLocationTariff",
        guards=[can_bill],
        summary="Set the tariff of a location's EVSEs that have none of their own",
        responses=problems(*ASSIGN_PROBLEMS),
    )
    async def assign_location(
        self,
        location_id: FromPath[uuid.UUID],
        data: JSONBody[AssignTariffIn],
        tariffs: NamedDependency[TariffService],
    ) -> TariffAssignmentOut:
        return TariffAssignmentOut.of(await tariffs.assign("location", location_id, data.tariff_id))

    @delete(
        "/locations/{location_id:uuid}/tariff",
        operation_id="UnassignLocationTariff",
        guards=[can_bill],
        responses=problems(*UNASSIGN_PROBLEMS),
    )
    async def unassign_location(
        self, location_id: FromPath[uuid.UUID], tariffs: NamedDependency[TariffService]
    ) -> None:
        await tariffs.unassign("location", location_id)

    @put(
        "/operators/{operator_id:uuid}/tariff",
        operation_id="AssignOperatorTariff",
        guards=[can_bill],
        summary="Set the default tariff of the caller's own operator company (another's is not found)",
        responses=problems(*ASSIGN_PROBLEMS),
    )
    async def assign_operator(
        self,
        operator_id: FromPath[uuid.UUID],
        data: JSONBody[AssignTariffIn],
        tariffs: NamedDependency[TariffService],
    ) -> TariffAssignmentOut:
        return TariffAssignmentOut.of(await tariffs.assign("operator", operator_id, data.tariff_id))

    @delete(
        "/operators/{operator_id:uuid}/tariff",
        operation_id="UnassignOperatorTariff",
        guards=[can_bill],
        responses=problems(*UNASSIGN_PROBLEMS),
    )
    async def unassign_operator(
        self, operator_id: FromPath[uuid.UUID], tariffs: NamedDependency[TariffService]
    ) -> None:
        await tariffs.unassign("operator", operator_id)
