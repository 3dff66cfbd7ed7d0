"""roaming: OCPI partners, the tokens they push, roaming sessions and the pushes we owe

Revision ID: 0019_roaming
Revises: 0018_edges
Create Date: 2026-12-07 15:28:20.388394
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_roaming"
down_revision: str | None = "0018_edges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ocpi_partners",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("party_id", sa.String(length=3), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("their_token", sa.String(length=255), nullable=True),
        sa.Column("versions_url", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=8), nullable=True),
        sa.Column("endpoints", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_ocpi_partners_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpi_partners")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_ocpi_partners_token_digest")),
    )
    with op.batch_alter_table("ocpi_partners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ocpi_partners_operator_id"), ["operator_id"], unique=False)

    op.create_table(
        "ocpi_pushes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("module", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("object_key", sa.String(length=160), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_ocpi_pushes_operator_id_operators")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["ocpi_partners.id"], name=op.f("fk_ocpi_pushes_partner_id_ocpi_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpi_pushes")),
    )
    with op.batch_alter_table("ocpi_pushes", schema=None) as batch_op:
        batch_op.create_index("ix_ocpi_pushes_due", ["done_at", "next_at"], unique=False)
        batch_op.create_index("ix_ocpi_pushes_object", ["partner_id", "object_key"], unique=False)

    op.create_table(
        "ocpi_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("party_id", sa.String(length=3), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("whitelist", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_ocpi_tokens_operator_id_operators")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["ocpi_partners.id"], name=op.f("fk_ocpi_tokens_partner_id_ocpi_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpi_tokens")),
        sa.UniqueConstraint(
            "operator_id",
            "country_code",
            "party_id",
            "uid",
            "type",
            name=op.f("uq_ocpi_tokens_operator_id_country_code_party_id_uid_type"),
        ),
    )
    with op.batch_alter_table("ocpi_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ocpi_tokens_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ocpi_tokens_uid"), ["uid"], unique=False)

    op.create_table(
        "ocpi_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=True),
        sa.Column("token", sa.JSON(), nullable=False),
        sa.Column("auth_method", sa.String(length=16), nullable=False),
        sa.Column("authorization_reference", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tariff_id", sa.Uuid(), nullable=True),
        sa.Column("cdr_id", sa.String(length=39), nullable=True),
        sa.Column("cdr", sa.JSON(), nullable=True),
        sa.Column("cdr_total_minor", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("cdr_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_ocpi_sessions_operator_id_operators")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["ocpi_partners.id"], name=op.f("fk_ocpi_sessions_partner_id_ocpi_partners")
        ),
        sa.ForeignKeyConstraint(["tariff_id"], ["tariffs.id"], name=op.f("fk_ocpi_sessions_tariff_id_tariffs")),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["transactions.id"], name=op.f("fk_ocpi_sessions_transaction_id_transactions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpi_sessions")),
        sa.UniqueConstraint("cdr_id", name=op.f("uq_ocpi_sessions_cdr_id")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_ocpi_sessions_transaction_id")),
    )
    with op.batch_alter_table("ocpi_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ocpi_sessions_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ocpi_sessions_partner_id"), ["partner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ocpi_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_sessions_partner_id"))
        batch_op.drop_index(batch_op.f("ix_ocpi_sessions_operator_id"))

    op.drop_table("ocpi_sessions")
    with op.batch_alter_table("ocpi_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_tokens_uid"))
        batch_op.drop_index(batch_op.f("ix_ocpi_tokens_partner_id"))

    op.drop_table("ocpi_tokens")
    with op.batch_alter_table("ocpi_pushes", schema=None) as batch_op:
        batch_op.drop_index("ix_ocpi_pushes_object")
        batch_op.drop_index("ix_ocpi_pushes_due")

    op.drop_table("ocpi_pushes")
    with op.batch_alter_table("ocpi_partners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ocpi_partners_operator_id"))

    op.drop_table("ocpi_partners")
