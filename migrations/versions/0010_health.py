"""incidents, signals and remediation

Revision ID: 0010_health
Revises: 0009_mail_outbox
Create Date: 2026-11-25 20:15:00.000000
"""

from collections.abc import Sequence

revision: str = "0010_health"
down_revision: str | None = "0009_mail_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
