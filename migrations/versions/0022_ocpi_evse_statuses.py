"""ocpi locations: each EVSE's OCPI status as last pushed, and since when

Revision ID: 0022_ocpi_evse_statuses
Revises: 0021_ocpi_commands
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_ocpi_evse_statuses"
down_revision: str | None = "0021_ocpi_commands"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocpi_evse_statuses",
        sa.Column("evse_pk", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["evse_pk"], ["evses.id"], name=op.f("fk_ocpi_evse_statuses_evse_pk_evses")),
        sa.PrimaryKeyConstraint("evse_pk", name=op.f("pk_ocpi_evse_statuses")),
    )


def downgrade() -> None:
    op.drop_table("ocpi_evse_statuses")
