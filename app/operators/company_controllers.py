"""HTTP (operator): the tenant's own company details, the seller on its receipts and credit
notes (``/api/v1/operator/company``). Any tenant role reads them; only an admin changes them."""

from __future__ import annotations

import uuid

from litestar import Controller, get, patch
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS, can_administer
from app.core.errors import InvalidInput
from app.core.http import problems
from app.operators.company_schemas import CompanyOut, CompanyPatchIn
from app.operators.company_service import CompanyService


def provide_company(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> CompanyService:
    return CompanyService(db, tenant_id)


class CompanyController(Controller):
    path = "/company"
    tags = ("company",)
    dependencies = {"company": Provide(provide_company, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/",
        operation_id="GetCompany",
        summary="The company's details as its receipts name the seller",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def get_company(self, company: NamedDependency[CompanyService]) -> CompanyOut:
        return CompanyOut.of(await company.get())

    @patch(
        "/",
        operation_id="UpdateCompany",
        summary="Set the seller's legal name, address and VAT number shown on receipts",
        guards=[can_administer],
        responses=problems(*OPERATOR_PROBLEMS, InvalidInput),
    )
    async def update_company(
        self, data: JSONBody[CompanyPatchIn], company: NamedDependency[CompanyService]
    ) -> CompanyOut:
        return CompanyOut.of(await company.update(data))
