"""The tables: units, officers, citizens' accounts, account requests, OTP challenges, stored files, audit events,
the batches that turn folders of scans into drafts, and the scans a counter's station sends in."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

ROLES = ("officer", "reviewer", "administrator")

# A request's way: a draft (counter or batch) → otp_sent → created, or cancelled at any point before created.
REQUEST_STATUSES = ("draft", "otp_sent", "created", "cancelled")

FILE_KINDS = ("scan", "attachment", "card", "request_form")

# What became of one card (or one unreadable file) in a batch: both sides read, one side only, or nothing usable.
BATCH_ITEM_STATUSES = ("ok", "partial", "failed")

# A station's scan: a card found and read ("ok"), or refused with its reason ("failed"). Where it came from: the
# station's scan folder (`motcua watch`) or its scanner driven from the counter page ([Quét]).
STATION_SCAN_STATUSES = ("ok", "failed")
STATION_SCAN_SOURCES = ("folder", "scanner")


def utcnow() -> datetime:
    """Now, in UTC with its zone: SQLModel refuses naive times and gives every stored time back in UTC."""
    return datetime.now(UTC)


class Unit(SQLModel, table=True):
    """A Trung tâm phục vụ hành chính công or a Bộ phận một cửa."""

    __tablename__ = "unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Officer(SQLModel, table=True):
    """A person who logs in: an officer at the counter, a reviewer, an administrator."""

    __tablename__ = "officer"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    phone: str = Field(max_length=20)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(max_length=20, default="officer")
    password_hash: str = Field(max_length=255)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)


class StoredFile(SQLModel, table=True):
    """A file kept in the storage folder: a scan, the attachment PDF, a straightened card, a request form."""

    __tablename__ = "stored_file"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    request_id: int | None = Field(default=None, foreign_key="account_request.id", index=True)
    path: str = Field(max_length=500)  # relative to the storage folder
    name: str = Field(max_length=255)  # the name the file came with, shown to the officer
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class AccountRequest(SQLModel, table=True):
    """One citizen's request for an account: the form as the officer (or a batch) left it."""

    __tablename__ = "account_request"
    __table_args__ = (Index("ix_account_request_status_unit", "status", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(max_length=20, default="draft")
    origin: str = Field(max_length=20, default="counter")
    id_number: str | None = Field(default=None, max_length=12, index=True)
    full_name: str | None = Field(default=None, max_length=200)
    date_of_birth: date | None = None
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=254)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    officer_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    attachment_id: int | None = Field(default=None)
    batch: str | None = Field(default=None, max_length=100, index=True)  # the batch's name when origin is "batch"
    # The machine's reading as JSON (ocr's CardReading.to_json): what the officer or reviewer corrected from.
    reading: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CitizenAccount(SQLModel, table=True):
    """An account created for a citizen: one per ID number, whoever tries to create the second."""

    __tablename__ = "citizen_account"
    __table_args__ = (UniqueConstraint("id_number", name="uq_citizen_account_id_number"),)

    id: int | None = Field(default=None, primary_key=True)
    id_number: str = Field(max_length=12)
    full_name: str = Field(max_length=200, index=True)
    date_of_birth: date
    phone: str = Field(max_length=20, index=True)
    email: str | None = Field(default=None, max_length=254)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    officer_id: int = Field(foreign_key="officer.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="account_request.id")
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class OtpChallenge(SQLModel, table=True):
    """One code sent to a citizen's phone; only its keyed hash is kept."""

    __tablename__ = "otp_challenge"
    __table_args__ = (Index("ix_otp_challenge_phone_created", "phone", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="account_request.id", index=True)
    phone: str = Field(max_length=20)
    salt: str = Field(max_length=64)
    code_hash: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    attempts: int = Field(default=0)
    # active → used (it created the account) | void (a newer code was sent) | exhausted (too many wrong entries)
    state: str = Field(max_length=20, default="active")


class AuditEvent(SQLModel, table=True):
    """Who did what, when: never a code, a password or a whole ID number."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    officer_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    action: str = Field(max_length=40)
    request_id: int | None = Field(default=None, index=True)
    account_id: int | None = Field(default=None)
    detail: str = Field(default="", max_length=1000)


class Batch(SQLModel, table=True):
    """One `motcua batch` output folder: the drafts it made are filed under its name for the reviewers."""

    __tablename__ = "batch"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    out_dir: str = Field(max_length=1000, unique=True)  # absolute: a rerun into the same folder is the same batch
    source: str = Field(max_length=1000)  # the scanned folder as first given, for the record
    created_at: datetime = Field(default_factory=utcnow)


class BatchItem(SQLModel, table=True):
    """One card of a batch (its draft and PDF), or one file that gave none; `result` is its results.jsonl line."""

    __tablename__ = "batch_item"
    __table_args__ = (UniqueConstraint("batch_id", "pdf_name", name="uq_batch_item_pdf_name"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    key: str = Field(max_length=64, unique=True)  # SHA-256 over the item's sides: the same sides, the same item
    status: str = Field(max_length=20)
    request_id: int | None = Field(default=None, foreign_key="account_request.id", index=True)
    pdf_name: str | None = Field(default=None, max_length=100)  # in the batch's output folder
    reason: str | None = Field(default=None, max_length=500)  # for the officer, in Vietnamese
    result: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class BatchSide(SQLModel, table=True):
    """A card side (or a whole unusable file) that a batch has dealt with: its primary key makes that happen once.

    `ref` is `<sha256>:<page>:<card>` (counted from 0) or `<sha256>:file`; a file is done when it has
    `file_sides` rows.
    """

    __tablename__ = "batch_side"

    ref: str = Field(primary_key=True, max_length=90)
    sha256: str = Field(max_length=64, index=True)
    file_sides: int
    item_id: int = Field(foreign_key="batch_item.id", index=True)


class StationScan(SQLModel, table=True):
    """One scan from a counter's station, read as it arrived, for the counter page to take into a request.

    `reading` is the counter's reading (prefill, card, warnings) with the storage paths of the scans, the card
    sides and the PDF it made; a scan that completes an earlier one (front, then back) names it in `partner_id`
    and its reading covers both.
    """

    __tablename__ = "station_scan"

    id: int | None = Field(default=None, primary_key=True)
    station: str = Field(max_length=100, index=True)  # `motcua watch --station`, the machine's name by default
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)  # None: every unit may see it
    source: str = Field(max_length=20)
    name: str = Field(max_length=255)  # the file's name as the station saved it
    sha256: str = Field(max_length=64, index=True)
    size: int
    path: str | None = Field(default=None, max_length=500)  # the scan in the storage folder (not for a failed one)
    status: str = Field(max_length=20)
    sides: str = Field(default="", max_length=20)  # the card sides found in this file: "front", "back", "front,back"
    document_type: str | None = Field(default=None, max_length=20)
    partner_id: int | None = Field(default=None, foreign_key="station_scan.id")
    reading: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, max_length=500)  # why it failed, for the officer, in Vietnamese
    moved_to: str | None = Field(default=None, max_length=1000)  # the file in done/ or failed/; None until moved
    request_id: int | None = Field(default=None, foreign_key="account_request.id", index=True)  # who took it
    created_at: datetime = Field(default_factory=utcnow, index=True)
