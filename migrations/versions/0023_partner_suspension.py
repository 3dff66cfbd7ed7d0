"""partner suspension: an operator can stop serving a roaming partner for a while

Revision ID: 0023_partner_suspension
Revises: 0022_ocpi_evse_statuses
Create Date: 2026-12-07 16:20:07.455024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_partner_suspension"
down_revision: str | None = "0022_ocpi_evse_statuses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ocpi_partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ocpi_partners", schema=None) as batch_op:
        batch_op.drop_column("suspended_at")
