"""uptime exclusions

Revision ID: 0012_uptime
Revises: 0011_operator_webhooks
Create Date: 2026-11-25 20:15:00.000000
"""

from collections.abc import Sequence

revision: str = "0012_uptime"
down_revision: str | None = "0011_operator_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
