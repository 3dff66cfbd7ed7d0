"""HTTP (operator): owner reports as JSON (``/reports/revenue``) and as CSV files
(``/reports/revenue.csv``): revenue, refunds, holds."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.files import CSV, file_response
from app.billing.reports.csv import holds_csv, refunds_csv, revenue_csv, roaming_revenue_csv
from app.billing.reports.roaming import RoamingReports, RoamingRevenueReportOut
from app.billing.reports.schemas import HoldReportOut, RefundReportOut, RevenueReportOut
from app.billing.reports.service import ReportService
from app.core.auth import OPERATOR_PROBLEMS
from app.core.errors import InvalidInput
from app.core.http import problems


def provide_reports(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> ReportService:
    # Scoped to the caller's operator company: nothing of another's is counted.
    return ReportService(db, tenant_id=tenant_id)


def provide_roaming_reports(
    db: NamedDependency[AsyncSession], state: State, tenant_id: NamedDependency[uuid.UUID]
) -> RoamingReports:
    # The ledger is roaming's, wired in by the application; scoped to the caller's company.
    return RoamingReports(db, state.get("roaming_ledger"), tenant_id=tenant_id)


Since = Annotated[datetime, QueryParameter(name="from", description="Start, inclusive (RFC 3339, with offset)")]
Until = Annotated[datetime, QueryParameter(name="to", description="End, exclusive (RFC 3339, with offset)")]
GroupByParam = Annotated[
    Literal["location", "charger"], QueryParameter(name="groupBy", description="location or charger")
]
PeriodParam = Annotated[Literal["day", "month"], QueryParameter(description="day or month (UTC)")]
RefundStatus = Annotated[
    Literal["requested", "succeeded", "failed"] | None, QueryParameter(description="Only refunds in this status")
]
# A year: a hold older than that is long void at the PSP; more would overflow a timedelta.
MAX_OLDER_THAN_MINUTES = 366 * 24 * 60
OlderThan = Annotated[
    int,
    QueryParameter(
        name="olderThanMinutes",
        ge=0,
        le=MAX_OLDER_THAN_MINUTES,
        description=f"Only holds at least this old, at most {MAX_OLDER_THAN_MINUTES} (a year)",
    ),
]
_REPORT_PROBLEMS = problems(*OPERATOR_PROBLEMS, InvalidInput)


class ReportController(Controller):
    path = "/reports"
    tags = ("reports",)
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "reports": Provide(provide_reports, sync_to_thread=False),
        "roaming_reports": Provide(provide_roaming_reports, sync_to_thread=False),
    }

    @get(
        "/revenue",
        operation_id="RevenueReport",
        summary="Revenue, energy and sessions per location or charger and day or month",
        responses=_REPORT_PROBLEMS,
    )
    async def revenue(
        self,
        reports: NamedDependency[ReportService],
        since: Since,
        until: Until,
        group_by: GroupByParam = "location",
        period: PeriodParam = "day",
    ) -> RevenueReportOut:
        return await reports.revenue(since, until, group_by, period)

    @get(
        "/revenue.csv",
        operation_id="RevenueReportCsv",
        summary="The revenue report as CSV (a header row, then one row per group and period)",
        media_type=CSV,
        responses=_REPORT_PROBLEMS,
    )
    async def revenue_csv(
        self,
        reports: NamedDependency[ReportService],
        since: Since,
        until: Until,
        group_by: GroupByParam = "location",
        period: PeriodParam = "day",
    ) -> Response[bytes]:
        report = await reports.revenue(since, until, group_by, period)
        name = f"revenue-{group_by}-{period}-{since:%Y%m%d}-{until:%Y%m%d}.csv"
        return file_response(revenue_csv(report), CSV, name, attachment=True)

    @get("/refunds", operation_id="RefundReport", summary="Refunds asked for in the range", responses=_REPORT_PROBLEMS)
    async def refunds(
        self, reports: NamedDependency[ReportService], since: Since, until: Until, status: RefundStatus = None
    ) -> RefundReportOut:
        return await reports.refunds(since, until, status=status)

    @get(
        "/refunds.csv",
        operation_id="RefundReportCsv",
        summary="The refunds report as CSV",
        media_type=CSV,
        responses=_REPORT_PROBLEMS,
    )
    async def refunds_csv(
        self, reports: NamedDependency[ReportService], since: Since, until: Until, status: RefundStatus = None
    ) -> Response[bytes]:
        report = await reports.refunds(since, until, status=status)
        return file_response(refunds_csv(report), CSV, f"refunds-{since:%Y%m%d}-{until:%Y%m%d}.csv", attachment=True)

    @get(
        "/holds",
        operation_id="HoldReport",
        summary="Money still reserved on cards (authorised, capturing, cancelling), oldest first",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def holds(self, reports: NamedDependency[ReportService], older_than_minutes: OlderThan = 0) -> HoldReportOut:
        return await reports.holds(older_than=timedelta(minutes=older_than_minutes))

    @get(
        "/holds.csv",
        operation_id="HoldReportCsv",
        summary="The holds report as CSV",
        media_type=CSV,
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def holds_csv(
        self, reports: NamedDependency[ReportService], older_than_minutes: OlderThan = 0
    ) -> Response[bytes]:
        report = await reports.holds(older_than=timedelta(minutes=older_than_minutes))
        return file_response(holds_csv(report), CSV, f"holds-{report.as_of:%Y%m%dT%H%M}.csv", attachment=True)

    @get(
        "/roaming-revenue",
        operation_id="RoamingRevenueReport",
        summary="Roaming revenue per partner and currency: the CDRs made in the range and their totals",
        responses=_REPORT_PROBLEMS,
    )
    async def roaming_revenue(
        self, roaming_reports: NamedDependency[RoamingReports], since: Since, until: Until
    ) -> RoamingRevenueReportOut:
        return await roaming_reports.revenue(since, until)

    @get(
        "/roaming-revenue.csv",
        operation_id="RoamingRevenueReportCsv",
        summary="The roaming revenue report as CSV (a header row, then one row per partner and currency)",
        media_type=CSV,
        responses=_REPORT_PROBLEMS,
    )
    async def roaming_revenue_csv(
        self, roaming_reports: NamedDependency[RoamingReports], since: Since, until: Until
    ) -> Response[bytes]:
        report = await roaming_reports.revenue(since, until)
        name = f"roaming-revenue-{since:%Y%m%d}-{until:%Y%m%d}.csv"
        return file_response(roaming_revenue_csv(report), CSV, name, attachment=True)
