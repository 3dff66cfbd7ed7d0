"""ocpi cdrs: when a roaming session's CDR was made (the CDRs module's last_updated)

Revision ID: 0020_ocpi_cdr_time
Revises: 0019_roaming
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_ocpi_cdr_time"
down_revision: str | None = "0019_roaming"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ocpi_sessions") as batch:
        batch.add_column(sa.Column("cdr_last_updated", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_ocpi_sessions_cdr_updated", "ocpi_sessions", ["partner_id", "cdr_last_updated"])


def downgrade() -> None:
    op.drop_index("ix_ocpi_sessions_cdr_updated", table_name="ocpi_sessions")
    with op.batch_alter_table("ocpi_sessions") as batch:
        batch.drop_column("cdr_last_updated")
