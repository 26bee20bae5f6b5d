"""Station scans: what a counter's scan folder or scanner sent in, read, for the counter page to take.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 14:58:43.022821
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("sides", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("document_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("reading", sa.Text(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("moved_to", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["station_scan.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["account_request.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("station_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_station_scan_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_scan_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_scan_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_scan_station"), ["station"], unique=False)
        batch_op.create_index(batch_op.f("ix_station_scan_unit_id"), ["unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("station_scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_station_scan_unit_id"))
        batch_op.drop_index(batch_op.f("ix_station_scan_station"))
        batch_op.drop_index(batch_op.f("ix_station_scan_sha256"))
        batch_op.drop_index(batch_op.f("ix_station_scan_request_id"))
        batch_op.drop_index(batch_op.f("ix_station_scan_created_at"))

    op.drop_table("station_scan")
