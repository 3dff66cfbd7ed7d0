"""charger search: coordinate index

Revision ID: 0007_charger_search
Revises: 0006_driver_accounts
Create Date: 2026-11-25 19:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_charger_search"
down_revision: str | None = "0006_driver_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Driver search: a bounding box on latitude/longitude, then exact distances in Python.
    op.create_index("ix_locations_lat_lon", "locations", ["latitude", "longitude"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_locations_lat_lon", table_name="locations")
