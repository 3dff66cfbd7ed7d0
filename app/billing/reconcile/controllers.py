"""HTTP (operator): reconcile our captures and refunds with a PSP's settlement lines."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import SettlementsUnavailable
from app.billing.reconcile.errors import ProviderNotConfigured
from app.billing.reconcile.schemas import ReconciliationIn, ReconciliationOut
from app.billing.reconcile.service import Reconciler
from app.billing.reports.controllers import provide_roaming_reports
from app.billing.reports.roaming import CdrReconciliationOut, RoamingReports
from app.core.auth import OPERATOR_PROBLEMS, can_bill
from app.core.errors import InvalidInput
from app.core.http import problems


def provide_reconciler(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> Reconciler:
    # Scoped to the caller's operator company: only its payments are reconciled.
    return Reconciler(db, state.providers, tenant_id=tenant_id)


class ReconciliationController(Controller):
    path = "/reconciliations"
    tags = ("reports",)
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "reconciler": Provide(provide_reconciler, sync_to_thread=False),
        "roaming_reports": Provide(provide_roaming_reports, sync_to_thread=False),
    }

    @post(
        "/",
        operation_id="Reconcile",
        summary="Compare our captures and refunds with the PSP's settlement lines; list every mismatch",
        status_code=200,
        guards=[can_bill],
        responses=problems(*OPERATOR_PROBLEMS, InvalidInput, ProviderNotConfigured, SettlementsUnavailable),
    )
    async def reconcile(self, data: ReconciliationIn, reconciler: NamedDependency[Reconciler]) -> ReconciliationOut:
        return await reconciler.run(data.provider, data.since, data.until, slack=timedelta(hours=data.slack_hours))

    @get(
        "/roaming-cdrs",
        operation_id="ReconcileRoamingCdrs",
        summary="The CDRs made in the range and whether each partner took it (sent, pending, failed), per partner",
        guards=[can_bill],
        responses=problems(*OPERATOR_PROBLEMS, InvalidInput),
    )
    async def roaming_cdrs(
        self,
        roaming_reports: NamedDependency[RoamingReports],
        since: Annotated[datetime, QueryParameter(name="from", description="Start, inclusive (RFC 3339, with offset)")],
        until: Annotated[datetime, QueryParameter(name="to", description="End, exclusive (RFC 3339, with offset)")],
    ) -> CdrReconciliationOut:
        return await roaming_reports.deliveries(since, until)
