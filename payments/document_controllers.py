"""HTTP (operator): receipts, fleet accounts and invoices, owner reports, reconciliation.
Mounted under the operator router (``/api/v1/operator``, bearer, operator role).

Documents come as JSON at the resource path and as files at a last segment that reads like
a file name: ``/payments/{id}/receipt`` (JSON), ``.../receipt.html``, ``.../receipt.pdf``;
``/invoices/{id}`` (JSON), ``/invoices/{id}/invoice.pdf``; ``/reports/revenue`` (JSON) and
``/reports/revenue.csv``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS
from app.core.errors import InvalidInput
from app.core.http import PageParams, problems
from app.drivers.models import User
from payments.errors import PaymentsNotConfigured
from payments.invoices import (
    FleetAccountIn,
    FleetAccountNotFound,
    FleetAccountOut,
    FleetAccountPageOut,
    FleetService,
    FleetTokenIn,
    FleetTokenOut,
    FleetTokenTaken,
    InvoiceCurrencyMismatch,
    InvoiceNotFound,
    InvoiceOut,
    InvoicePageOut,
    InvoicePeriodOpen,
    InvoiceService,
    InvoiceSummaryOut,
    IssueInvoiceIn,
    NothingToInvoice,
    OperatorRequired,
    render_invoice_pdf,
)
from payments.receipts import (
    ReceiptNotFound,
    ReceiptOut,
    ReceiptService,
    receipt_filename,
    render_receipt_html,
    render_receipt_pdf,
)
from payments.reconcile import Reconciler, ReconciliationIn, ReconciliationOut, SettlementsUnavailable
from payments.reports import (
    HoldReportOut,
    RefundReportOut,
    ReportService,
    RevenueReportOut,
    holds_csv,
    refunds_csv,
    revenue_csv,
)

PDF = "application/pdf"
HTML = "text/html; charset=utf-8"
CSV = "text/csv; charset=utf-8"


def _file(content: bytes | str, media_type: str, filename: str, *, attachment: bool = False) -> Response[bytes]:
    body = content.encode() if isinstance(content, str) else content
    disposition = "attachment" if attachment else "inline"
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            # A receipt names a card's last four: nobody in between keeps a copy.
            "Cache-Control": "private, no-store",
        },
    )


def receipt_response(receipt: ReceiptOut, ext: Literal["html", "pdf"]) -> Response[bytes]:
    """A receipt as a printable page or a PDF: inline, never cached on the way."""
    if ext == "html":
        return _file(render_receipt_html(receipt), HTML, receipt_filename(receipt, "html"))
    return _file(render_receipt_pdf(receipt), PDF, receipt_filename(receipt, "pdf"))


def provide_receipts(db: NamedDependency[AsyncSession], state: State) -> ReceiptService:
    return ReceiptService(db, state.providers)


def provide_fleet(db: NamedDependency[AsyncSession]) -> FleetService:
    return FleetService(db)


def provide_invoices(db: NamedDependency[AsyncSession]) -> InvoiceService:
    return InvoiceService(db)


def provide_reports(db: NamedDependency[AsyncSession]) -> ReportService:
    return ReportService(db)


def provide_reconciler(db: NamedDependency[AsyncSession], state: State) -> Reconciler:
    return Reconciler(db, state.providers)


_RECEIPT_PROBLEMS = problems(*OPERATOR_PROBLEMS, ReceiptNotFound)


class ReceiptController(Controller):
    path = "/"
    tags = ("receipts",)
    dependencies = {"receipts": Provide(provide_receipts, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/payments/{payment_id:uuid}/receipt",
        operation_id="GetPaymentReceipt",
        summary="The receipt of a captured payment",
        responses=_RECEIPT_PROBLEMS,
    )
    async def payment_receipt(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> ReceiptOut:
        return await receipts.for_payment(payment_id)

    @get(
        "/payments/{payment_id:uuid}/receipt.html",
        operation_id="GetPaymentReceiptHtml",
        summary="The receipt as a printable HTML page",
        media_type=HTML,
        responses=_RECEIPT_PROBLEMS,
    )
    async def payment_receipt_html(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_payment(payment_id), "html")

    @get(
        "/payments/{payment_id:uuid}/receipt.pdf",
        operation_id="GetPaymentReceiptPdf",
        summary="The receipt as a PDF",
        media_type=PDF,
        responses=_RECEIPT_PROBLEMS,
    )
    async def payment_receipt_pdf(
        self, payment_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_payment(payment_id), "pdf")

    @get(
        "/transactions/{transaction_id:uuid}/receipt",
        operation_id="GetTransactionReceipt",
        summary="The receipt of a session's card payment (a fleet session has an invoice line instead)",
        responses=_RECEIPT_PROBLEMS,
    )
    async def transaction_receipt(
        self, transaction_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> ReceiptOut:
        return await receipts.for_transaction(transaction_id)

    @get(
        "/transactions/{transaction_id:uuid}/receipt.html",
        operation_id="GetTransactionReceiptHtml",
        summary="The session's receipt as a printable HTML page",
        media_type=HTML,
        responses=_RECEIPT_PROBLEMS,
    )
    async def transaction_receipt_html(
        self, transaction_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_transaction(transaction_id), "html")

    @get(
        "/transactions/{transaction_id:uuid}/receipt.pdf",
        operation_id="GetTransactionReceiptPdf",
        summary="The session's receipt as a PDF",
        media_type=PDF,
        responses=_RECEIPT_PROBLEMS,
    )
    async def transaction_receipt_pdf(
        self, transaction_id: FromPath[uuid.UUID], receipts: NamedDependency[ReceiptService]
    ) -> Response[bytes]:
        return receipt_response(await receipts.for_transaction(transaction_id), "pdf")


class FleetAccountController(Controller):
    path = "/fleet-accounts"
    tags = ("fleet",)
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "fleet": Provide(provide_fleet, sync_to_thread=False),
        "invoices": Provide(provide_invoices, sync_to_thread=False),
    }

    @post(
        "/",
        operation_id="CreateFleetAccount",
        summary="A business that charges on account and is invoiced monthly",
        status_code=201,
        responses=problems(*OPERATOR_PROBLEMS, OperatorRequired, InvalidInput),
    )
    async def create_account(
        self, data: FleetAccountIn, fleet: NamedDependency[FleetService], current_user: NamedDependency[User]
    ) -> FleetAccountOut:
        account = await fleet.create(data, operator_id=current_user.operator_id)
        return FleetAccountOut.of(account, [])

    @get(
        "/", operation_id="ListFleetAccounts", summary="Fleet accounts by name", responses=problems(*OPERATOR_PROBLEMS)
    )
    async def list_accounts(
        self,
        page: NamedDependency[PageParams],
        fleet: NamedDependency[FleetService],
        operator_id: Annotated[
            uuid.UUID | None, QueryParameter(name="operatorId", description="Only this operator's")
        ] = None,
    ) -> FleetAccountPageOut:
        rows, total = await fleet.search(operator_id=operator_id, limit=page.limit, offset=page.offset)
        tokens = await fleet.tokens([a.id for a in rows])
        return FleetAccountPageOut(
            items=[FleetAccountOut.of(a, tokens[a.id]) for a in rows], total=total, limit=page.limit, offset=page.offset
        )

    @get(
        "/{account_id:uuid}",
        operation_id="GetFleetAccount",
        summary="A fleet account with its id tokens",
        responses=problems(*OPERATOR_PROBLEMS, FleetAccountNotFound),
    )
    async def get_account(
        self, account_id: FromPath[uuid.UUID], fleet: NamedDependency[FleetService]
    ) -> FleetAccountOut:
        account = await fleet.get(account_id)
        return FleetAccountOut.of(account, (await fleet.tokens([account.id]))[account.id])

    @post(
        "/{account_id:uuid}/tokens",
        operation_id="LinkFleetToken",
        summary="Bill an id token's sessions to the account (201 new, 200 already linked)",
        status_code=201,
        responses=problems(*OPERATOR_PROBLEMS, FleetAccountNotFound, FleetTokenTaken),
    )
    async def link_token(
        self, account_id: FromPath[uuid.UUID], data: FleetTokenIn, fleet: NamedDependency[FleetService]
    ) -> Response[FleetTokenOut]:
        token, created = await fleet.link_token(account_id, data.id_token)
        out = FleetTokenOut(
            id_token=token.id_token, fleet_account_id=token.fleet_account_id, created_at=token.created_at
        )
        return Response(out, status_code=201 if created else 200)

    @post(
        "/{account_id:uuid}/invoices",
        operation_id="IssueFleetInvoice",
        summary="Issue the invoice of a month (UTC); issuing it again returns the same invoice (200)",
        status_code=201,
        responses=problems(
            *OPERATOR_PROBLEMS,
            FleetAccountNotFound,
            NothingToInvoice,
            InvoicePeriodOpen,
            InvoiceCurrencyMismatch,
            InvalidInput,
        ),
    )
    async def issue_invoice(
        self, account_id: FromPath[uuid.UUID], data: IssueInvoiceIn, invoices: NamedDependency[InvoiceService]
    ) -> Response[InvoiceOut]:
        invoice, created = await invoices.issue(account_id, data.month, notes=data.notes)
        return Response(await invoices.out(invoice), status_code=201 if created else 200)


class InvoiceController(Controller):
    path = "/invoices"
    tags = ("fleet",)
    dependencies = {"invoices": Provide(provide_invoices, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", operation_id="ListInvoices", summary="Invoices, newest first", responses=problems(*OPERATOR_PROBLEMS))
    async def list_invoices(
        self,
        page: NamedDependency[PageParams],
        invoices: NamedDependency[InvoiceService],
        fleet_account_id: Annotated[
            uuid.UUID | None, QueryParameter(name="fleetAccountId", description="Only this account's")
        ] = None,
    ) -> InvoicePageOut:
        rows, total = await invoices.search(fleet_account_id=fleet_account_id, limit=page.limit, offset=page.offset)
        return InvoicePageOut(
            items=[InvoiceSummaryOut.of(i) for i in rows], total=total, limit=page.limit, offset=page.offset
        )

    @get(
        "/{invoice_id:uuid}",
        operation_id="GetInvoice",
        summary="An invoice with its lines and VAT per rate",
        responses=problems(*OPERATOR_PROBLEMS, InvoiceNotFound),
    )
    async def get_invoice(
        self, invoice_id: FromPath[uuid.UUID], invoices: NamedDependency[InvoiceService]
    ) -> InvoiceOut:
        return await invoices.out(await invoices.get(invoice_id))

    @get(
        "/{invoice_id:uuid}/invoice.pdf",
        operation_id="GetInvoicePdf",
        summary="The invoice as a PDF",
        media_type=PDF,
        responses=problems(*OPERATOR_PROBLEMS, InvoiceNotFound),
    )
    async def invoice_pdf(
        self, invoice_id: FromPath[uuid.UUID], invoices: NamedDependency[InvoiceService]
    ) -> Response[bytes]:
        invoice = await invoices.out(await invoices.get(invoice_id))
        return _file(render_invoice_pdf(invoice), PDF, f"invoice-{invoice.number}.pdf")


Since = Annotated[datetime, QueryParameter(name="from", description="Start, inclusive (RFC 3339, with offset)")]
Until = Annotated[datetime, QueryParameter(name="to", description="End, exclusive (RFC 3339, with offset)")]
GroupByParam = Annotated[
    Literal["location", "charger"], QueryParameter(name="groupBy", description="location or charger")
]
PeriodParam = Annotated[Literal["day", "month"], QueryParameter(description="day or month (UTC)")]
RefundStatus = Annotated[
    Literal["requested", "succeeded", "failed"] | None, QueryParameter(description="Only refunds in this status")
]
OlderThan = Annotated[int, QueryParameter(name="olderThanMinutes", ge=0, description="Only holds at least this old")]
_REPORT_PROBLEMS = problems(*OPERATOR_PROBLEMS, InvalidInput)


class ReportController(Controller):
    path = "/reports"
    tags = ("reports",)
    dependencies = {"reports": Provide(provide_reports, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

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
        return _file(revenue_csv(report), CSV, name, attachment=True)

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
        return _file(refunds_csv(report), CSV, f"refunds-{since:%Y%m%d}-{until:%Y%m%d}.csv", attachment=True)

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
        return _file(holds_csv(report), CSV, f"holds-{report.as_of:%Y%m%dT%H%M}.csv", attachment=True)


class ReconciliationController(Controller):
    path = "/reconciliations"
    tags = ("reports",)
    dependencies = {"reconciler": Provide(provide_reconciler, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @post(
        "/",
        operation_id="Reconcile",
        summary="Compare our captures and refunds with the PSP's settlement lines; list every mismatch",
        status_code=200,
        responses=problems(*OPERATOR_PROBLEMS, InvalidInput, PaymentsNotConfigured, SettlementsUnavailable),
    )
    async def reconcile(self, data: ReconciliationIn, reconciler: NamedDependency[Reconciler]) -> ReconciliationOut:
        return await reconciler.run(data.provider, data.since, data.until, slack=timedelta(hours=data.slack_hours))


DOCUMENT_CONTROLLERS = [
    ReceiptController,
    FleetAccountController,
    InvoiceController,
    ReportController,
    ReconciliationController,
]
