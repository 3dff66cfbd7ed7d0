"""web checkout: receipt links and payer e-mail

Revision ID: 0008_checkout
Revises: 0007_charger_search
Create Date: 2026-11-25 19:45:00.000000
"""

from collections.abc import Sequence

revision: str = "0008_checkout"
down_revision: str | None = "0007_charger_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
