"""CompanyService: the tenant reads and keeps its own company details (the seller named on
its receipts and credit notes). Always the caller's own operator row: there is no other."""

from __future__ import annotations

import re
import uuid

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput, NotFound
from app.operators.company_schemas import CompanyPatchIn
from app.operators.models import Operator

# An EU VAT identification number: the country prefix, then 2 to 13 letters or digits.
_VAT_NUMBER = re.compile(r"[A-Z]{2}[0-9A-Z]{2,13}")
# Sweden's: SE, the 10-digit organisation or personal number, then 01.
_SE_VAT_NUMBER = re.compile(r"SE[0-9]{10}01")
_COUNTRY = re.compile(r"[A-Z]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _clean(value: str | None) -> str | None:
    value = " ".join(value.split()) if value is not None else None
    return value or None


def normalise_vat_number(value: str) -> str:
    """``se 5566778899 01`` -> ``SE556677889901``; InvalidInput unless it has the EU shape
    (and, for Sweden, SE + 10 digits + 01)."""
    vat = re.sub(r"[\s.\-]", "", value).upper()
    if not _VAT_NUMBER.fullmatch(vat) or (vat.startswith("SE") and not _SE_VAT_NUMBER.fullmatch(vat)):
        raise InvalidInput(
            "vatNumber: a VAT identification number with its country prefix, e.g. SE556677889901",
            field="vatNumber",
        )
    return vat


class CompanyService:
    def __init__(self, db: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.db = db
        self.tenant_id = tenant_id

    async def get(self) -> Operator:
        operator = await self.db.get(Operator, self.tenant_id)
        if operator is None:  # a caller's tenant always exists
            raise NotFound("the caller's operator company is gone")
        return operator

    async def update(self, data: CompanyPatchIn) -> Operator:
        operator = await self.get()
        changes = {k: _clean(v) for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        if vat := changes.get("vat_number"):
            changes["vat_number"] = normalise_vat_number(vat)
        if country := changes.get("country"):
            changes["country"] = country.upper()
            if not _COUNTRY.fullmatch(country.upper()):
                raise InvalidInput("country: an ISO 3166-1 alpha-2 code, e.g. SE", field="country")
        if (email := changes.get("contact_email")) and not _EMAIL.fullmatch(email):
            raise InvalidInput("contactEmail: an e-mail address", field="contactEmail")
        for name, value in changes.items():
            setattr(operator, name, value)
        await self.db.commit()
        return operator
