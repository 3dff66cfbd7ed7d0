"""operator webhooks and deliveries

Revision ID: 0011_operator_webhooks
Revises: 0010_health
Create Date: 2026-11-25 20:15:00.000000
"""

from collections.abc import Sequence

revision: str = "0011_operator_webhooks"
down_revision: str | None = "0010_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
