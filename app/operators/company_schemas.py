"""msgspec structs of the tenant's own company details (the seller on its receipts)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from app.operators.models import Operator

_Text = Annotated[str, msgspec.Meta(max_length=200)]


class CompanyOut(msgspec.Struct, kw_only=True, rename="camel"):
    """The tenant as its receipts and credit notes name it; null: not set (a receipt is a
    valid simplified VAT invoice only once the legal name, address and VAT number are)."""

    name: str
    country_code: str
    party_id: str
    legal_name: str | None
    street_address: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    vat_number: str | None
    org_number: str | None
    contact_email: str | None

    @classmethod
    def of(cls, o: Operator) -> CompanyOut:
        return cls(
            name=o.name,
            country_code=o.country_code,
            party_id=o.party_id,
            legal_name=o.legal_name,
            street_address=o.street_address,
            postal_code=o.postal_code,
            city=o.city,
            country=o.country,
            vat_number=o.vat_number,
            org_number=o.org_number,
            contact_email=o.contact_email,
        )


class CompanyPatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Absent: unchanged; null or "": cleared."""

    legal_name: _Text | msgspec.UnsetType | None = msgspec.UNSET
    street_address: _Text | msgspec.UnsetType | None = msgspec.UNSET
    postal_code: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType | None = msgspec.UNSET
    city: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = msgspec.UNSET
    country: Annotated[str, msgspec.Meta(max_length=2)] | msgspec.UnsetType | None = msgspec.UNSET
    vat_number: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType | None = msgspec.UNSET
    org_number: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType | None = msgspec.UNSET
    contact_email: Annotated[str, msgspec.Meta(max_length=254)] | msgspec.UnsetType | None = msgspec.UNSET
