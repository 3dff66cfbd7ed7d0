"""driver accounts: token versions, payment customers, login throttling

Revision ID: 0006_driver_accounts
Revises: 0005_payments
Create Date: 2026-11-25 19:45:00.000000
"""

from collections.abc import Sequence

revision: str = "0006_driver_accounts"
down_revision: str | None = "0005_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
