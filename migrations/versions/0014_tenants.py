"""tenants: charger and card owners, staff roles, API keys, audit log

Revision ID: 0014_tenants
Revises: 0013_health_baselines
Create Date: 2026-12-07 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_tenants"
down_revision: str | None = "0013_health_baselines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charge_points") as batch:
        batch.add_column(sa.Column("operator_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f("fk_charge_points_operator_id_operators"), "operators", ["operator_id"], ["id"])
        batch.create_index(op.f("ix_charge_points_operator_id"), ["operator_id"])
    # A charger belongs to its location's operator.
    op.execute(
        "UPDATE charge_points SET operator_id = "
        "(SELECT operator_id FROM locations WHERE locations.id = charge_points.location_id)"
    )
    with op.batch_alter_table("id_tokens") as batch:
        batch.add_column(sa.Column("operator_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f("fk_id_tokens_operator_id_operators"), "operators", ["operator_id"], ["id"])
        batch.create_index(op.f("ix_id_tokens_operator_id"), ["operator_id"])
    # The single operator role becomes the tenant's admin.
    op.execute("UPDATE users SET role = 'admin' WHERE role = 'operator'")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_api_keys_operator_id_operators")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_api_keys_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_operator_id"), "api_keys", ["operator_id"])
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("actor_name", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_audit_entries_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_operator_at", "audit_entries", ["operator_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_operator_at", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_index(op.f("ix_api_keys_operator_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.execute("UPDATE users SET role = 'operator' WHERE role IN ('admin', 'operations', 'finance', 'read_only')")
    with op.batch_alter_table("id_tokens") as batch:
        batch.drop_index(op.f("ix_id_tokens_operator_id"))
        batch.drop_constraint(op.f("fk_id_tokens_operator_id_operators"), type_="foreignkey")
        batch.drop_column("operator_id")
    with op.batch_alter_table("charge_points") as batch:
        batch.drop_index(op.f("ix_charge_points_operator_id"))
        batch.drop_constraint(op.f("fk_charge_points_operator_id_operators"), type_="foreignkey")
        batch.drop_column("operator_id")
