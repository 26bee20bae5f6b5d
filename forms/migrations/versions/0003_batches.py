"""Batches: their output folders, the cards (items) they made and the sides they dealt with, exactly once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 13:58:13.323486
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("out_dir", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("out_dir"),
    )
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_name"), ["name"], unique=True)

    op.create_table(
        "batch_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("pdf_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batch.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["account_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "pdf_name", name="uq_batch_item_pdf_name"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("batch_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_item_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batch_item_request_id"), ["request_id"], unique=False)

    op.create_table(
        "batch_side",
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=90), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("file_sides", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["batch_item.id"],
        ),
        sa.PrimaryKeyConstraint("ref"),
    )
    with op.batch_alter_table("batch_side", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_side_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batch_side_sha256"), ["sha256"], unique=False)

    with op.batch_alter_table("account_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_account_request_batch"), ["batch"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_request_batch"))
        batch_op.drop_column("batch")

    with op.batch_alter_table("batch_side", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_side_sha256"))
        batch_op.drop_index(batch_op.f("ix_batch_side_item_id"))

    op.drop_table("batch_side")
    with op.batch_alter_table("batch_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_item_request_id"))
        batch_op.drop_index(batch_op.f("ix_batch_item_batch_id"))

    op.drop_table("batch_item")
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_name"))

    op.drop_table("batch")
