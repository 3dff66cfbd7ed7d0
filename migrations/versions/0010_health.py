"""incidents, signals and remediation

Revision ID: 0010_health
Revises: 0009_mail_outbox
Create Date: 2026-11-25 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_health"
down_revision: str | None = "0009_mail_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("location_id", sa.Uuid(), nullable=True),
        sa.Column("charge_point_id", sa.Uuid(), nullable=True),
        sa.Column("identity", sa.String(length=48), nullable=False),
        sa.Column("evse", sa.Integer(), nullable=True),
        sa.Column("connectors", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_signal_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("clear_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flaps", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("open_key", sa.String(length=160), nullable=True),
        sa.ForeignKeyConstraint(["acknowledged_by"], ["users.id"], name=op.f("fk_incidents_acknowledged_by_users")),
        sa.ForeignKeyConstraint(
            ["charge_point_id"], ["charge_points.id"], name=op.f("fk_incidents_charge_point_id_charge_points")
        ),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_incidents_location_id_locations")),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_incidents_operator_id_operators")),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.id"], name=op.f("fk_incidents_resolved_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("open_key", name=op.f("uq_incidents_open_key")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_charge_point_id"), ["charge_point_id"], unique=False)
        batch_op.create_index("ix_incidents_dedupe_resolved", ["dedupe_key", "resolved_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_location_id"), ["location_id"], unique=False)
        batch_op.create_index("ix_incidents_state_opened", ["state", "opened_at"], unique=False)

    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_events_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_events_incident_id"))
    op.drop_table("incident_events")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_state_opened")
        batch_op.drop_index(batch_op.f("ix_incidents_location_id"))
        batch_op.drop_index("ix_incidents_dedupe_resolved")
        batch_op.drop_index(batch_op.f("ix_incidents_charge_point_id"))
    op.drop_table("incidents")
