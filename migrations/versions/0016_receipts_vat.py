"""receipts as simplified VAT invoices: the seller's details per operator, numbered receipts and credit notes

Revision ID: 0016_receipts_vat
Revises: 0015_accounts
Create Date: 2026-12-07 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_receipts_vat"
down_revision: str | None = "0015_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SELLER = (
    ("legal_name", 200),
    ("street_address", 200),
    ("postal_code", 20),
    ("city", 100),
    ("country", 2),
    ("vat_number", 20),
    ("org_number", 20),
    ("contact_email", 254),
)


def upgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        for name, length in _SELLER:
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=True))
    op.create_table(
        "receipt_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("refund_seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("vat_rate_bp", sa.Integer(), nullable=False),
        sa.Column("gross_minor", sa.Integer(), nullable=False),
        sa.Column("vat_minor", sa.Integer(), nullable=False),
        sa.Column("net_minor", sa.Integer(), nullable=False),
        sa.Column("seller", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_receipt_documents_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_receipt_documents_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_documents")),
        sa.UniqueConstraint("payment_id", "refund_seq", name=op.f("uq_receipt_documents_payment_id_refund_seq")),
        sa.UniqueConstraint("operator_id", "number", name=op.f("uq_receipt_documents_operator_id_number")),
    )
    op.create_index(op.f("ix_receipt_documents_operator_id"), "receipt_documents", ["operator_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_receipt_documents_operator_id"), table_name="receipt_documents")
    op.drop_table("receipt_documents")
    with op.batch_alter_table("operators") as batch:
        for name, _ in reversed(_SELLER):
            batch.drop_column(name)
