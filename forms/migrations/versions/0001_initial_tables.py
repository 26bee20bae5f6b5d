"""Initial tables: units, officers, requests, accounts, OTP challenges, stored files, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 13:45:33.732203
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_code"), ["code"], unique=True)

    op.create_table(
        "officer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("full_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("officer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_officer_unit_id"), ["unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_officer_username"), ["username"], unique=True)

    op.create_table(
        "account_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("id_number", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("full_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("reading", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officer.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("account_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_request_id_number"), ["id_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_request_officer_id"), ["officer_id"], unique=False)
        batch_op.create_index("ix_account_request_status_unit", ["status", "unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_request_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officer.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_officer_id"), ["officer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_request_id"), ["request_id"], unique=False)

    op.create_table(
        "citizen_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_number", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("full_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officer.id"],
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
        sa.UniqueConstraint("id_number", name="uq_citizen_account_id_number"),
    )
    with op.batch_alter_table("citizen_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_citizen_account_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_account_full_name"), ["full_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_account_officer_id"), ["officer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_account_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_account_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "otp_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("salt", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["account_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.create_index("ix_otp_challenge_phone_created", ["phone", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_otp_challenge_request_id"), ["request_id"], unique=False)

    op.create_table(
        "stored_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["account_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stored_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stored_file_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stored_file_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stored_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_file_sha256"))
        batch_op.drop_index(batch_op.f("ix_stored_file_request_id"))

    op.drop_table("stored_file")
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otp_challenge_request_id"))
        batch_op.drop_index("ix_otp_challenge_phone_created")

    op.drop_table("otp_challenge")
    with op.batch_alter_table("citizen_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizen_account_unit_id"))
        batch_op.drop_index(batch_op.f("ix_citizen_account_phone"))
        batch_op.drop_index(batch_op.f("ix_citizen_account_officer_id"))
        batch_op.drop_index(batch_op.f("ix_citizen_account_full_name"))
        batch_op.drop_index(batch_op.f("ix_citizen_account_created_at"))

    op.drop_table("citizen_account")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_request_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_officer_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))

    op.drop_table("audit_event")
    with op.batch_alter_table("account_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_request_unit_id"))
        batch_op.drop_index("ix_account_request_status_unit")
        batch_op.drop_index(batch_op.f("ix_account_request_officer_id"))
        batch_op.drop_index(batch_op.f("ix_account_request_id_number"))

    op.drop_table("account_request")
    with op.batch_alter_table("officer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_officer_username"))
        batch_op.drop_index(batch_op.f("ix_officer_unit_id"))

    op.drop_table("officer")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_code"))

    op.drop_table("unit")
