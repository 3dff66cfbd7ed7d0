"""tenancy admin: one operator company per country code + party id

Revision ID: 0017_tenancy_admin
Revises: 0016_receipts_vat
Create Date: 2026-12-07 13:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_tenancy_admin"
down_revision: str | None = "0016_receipts_vat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Country code + party id make a company one OCPI party and prefix its EVSE IDs.
    with op.batch_alter_table("operators") as batch:
        batch.create_unique_constraint(op.f("uq_operators_country_code_party_id"), ["country_code", "party_id"])


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_constraint(op.f("uq_operators_country_code_party_id"), type_="unique")
