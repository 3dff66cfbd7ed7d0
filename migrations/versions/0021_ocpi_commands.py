"""roaming: the commands and charging-profile requests partners send, and hubs' client info

Revision ID: 0021_ocpi_commands
Revises: 0020_ocpi_cdr_time
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_ocpi_commands"
down_revision: str | None = "0020_ocpi_cdr_time"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocpi_commands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("response_url", sa.String(length=255), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("duplicate_of", sa.Uuid(), nullable=True),
        sa.Column("charge_point_id", sa.Uuid(), nullable=True),
        sa.Column("evse_number", sa.Integer(), nullable=True),
        sa.Column("command", sa.String(length=40), nullable=True),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("ocpi_session_id", sa.Uuid(), nullable=True),
        sa.Column("reservation_id", sa.String(length=36), nullable=True),
        sa.Column("charger_reservation_id", sa.Integer(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.Column("result_body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["charge_point_id"], ["charge_points.id"], name=op.f("fk_ocpi_commands_charge_point_id_charge_points")
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["ocpi_commands.id"], name=op.f("fk_ocpi_commands_duplicate_of_ocpi_commands")
        ),
        sa.ForeignKeyConstraint(
            ["ocpi_session_id"], ["ocpi_sessions.id"], name=op.f("fk_ocpi_commands_ocpi_session_id_ocpi_sessions")
        ),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_ocpi_commands_operator_id_operators")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["ocpi_partners.id"], name=op.f("fk_ocpi_commands_partner_id_ocpi_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpi_commands")),
        sa.UniqueConstraint(
            "partner_id", "kind", "response_url", name=op.f("uq_ocpi_commands_partner_id_kind_response_url")
        ),
    )
    with op.batch_alter_table("ocpi_commands", schema=None) as batch_op:
        batch_op.create_index("ix_ocpi_commands_due", ["state", "due_at"], unique=False)
        batch_op.create_index("ix_ocpi_commands_request", ["partner_id", "request_digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_ocpi_commands_charge_point_id"), ["charge_point_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ocpi_commands_ocpi_session_id"), ["ocpi_session_id"], unique=False)

    op.create_table(
        "ocpi_client_infos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("party_id", sa.String(length=3), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_ocpi_client_infos_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["ocpi_partners.id"], name=op.f("fk_ocpi_client_infos_partner_id_ocpi_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpi_client_infos")),
        sa.UniqueConstraint(
            "partner_id", "country_code", "party_id", name=op.f("uq_ocpi_client_infos_partner_id_country_code_party_id")
        ),
    )
    with op.batch_alter_table("ocpi_client_infos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ocpi_client_infos_partner_id"), ["partner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ocpi_client_infos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_client_infos_partner_id"))
    op.drop_table("ocpi_client_infos")
    with op.batch_alter_table("ocpi_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_commands_ocpi_session_id"))
        batch_op.drop_index(batch_op.f("ix_ocpi_commands_charge_point_id"))
        batch_op.drop_index("ix_ocpi_commands_request")
        batch_op.drop_index("ix_ocpi_commands_due")
    op.drop_table("ocpi_commands")
