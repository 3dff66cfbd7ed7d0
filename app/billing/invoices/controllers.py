"""HTTP (operator): fleet accounts, their id tokens, and invoices (JSON at
``/invoices/{id}``, the PDF at ``/invoices/{id}/invoice.pdf``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import (
    FleetAccountNotFound,
    FleetTokenTaken,
    InvoiceCurrencyMismatch,
    InvoiceNotFound,
    InvoicePeriodOpen,
    NothingToInvoice,
    OperatorRequired,
)
from app.billing.files import PDF, file_response
from app.billing.invoices.fleet import FleetService
from app.billing.invoices.pdf import render_invoice_pdf
from app.billing.invoices.schemas import (
    FleetAccountIn,
    FleetAccountOut,
    FleetAccountPageOut,
    FleetTokenIn,
    FleetTokenOut,
    InvoiceOut,
    InvoicePageOut,
    InvoiceSummaryOut,
    IssueInvoiceIn,
)
from app.billing.invoices.service import InvoiceService
from app.core.auth import OPERATOR_PROBLEMS, can_bill
from app.core.errors import InvalidInput
from app.core.http import PageParams, problems


# Both scoped to the caller's operator company: another's accounts and invoices are not found.
def provide_fleet(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> FleetService:
    return FleetService(db, tenant_id=tenant_id)


def provide_invoices(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> InvoiceService:
    return InvoiceService(db, tenant_id=tenant_id)


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
        guards=[can_bill],
        responses=problems(*OPERATOR_PROBLEMS, OperatorRequired, InvalidInput),
    )
    async def create_account(self, data: FleetAccountIn, fleet: NamedDependency[FleetService]) -> FleetAccountOut:
        account = await fleet.create(data)
        return FleetAccountOut.of(account, [])

    @get(
        "/", operation_id="ListFleetAccounts", summary="Fleet accounts by name", responses=problems(*OPERATOR_PROBLEMS)
    )
    async def list_accounts(
        self,
        page: NamedDependency[PageParams],
        fleet: NamedDependency[FleetService],
        operator_id: Annotated[
            uuid.UUID | None, QueryParameter(name="operatorId", description="Only this operator's (the caller's own)")
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
        guards=[can_bill],
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
        guards=[can_bill],
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
        return file_response(render_invoice_pdf(invoice), PDF, f"invoice-{invoice.number}.pdf")
