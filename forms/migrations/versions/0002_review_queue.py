"""The reviewers' queue: a place per draft, and every correction recorded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:55:00.787191
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("document_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("original_value", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("original_confidence", sa.Float(), nullable=False),
        sa.Column("original_source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("corrected_value", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["account_request.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_correction_request_id"), ["request_id"], unique=False)

    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("doubt", sa.Float(), nullable=False),
        sa.Column("document_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("locked_by", sa.Integer(), nullable=True),
        sa.Column("locked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["locked_by"],
            ["officer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["account_request.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_doubt"), ["doubt"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_status"))
        batch_op.drop_index(batch_op.f("ix_review_doubt"))

    op.drop_table("review")
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correction_request_id"))
        batch_op.drop_index(batch_op.f("ix_correction_at"))

    op.drop_table("correction")
