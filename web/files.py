"""Serving stored files to the browser: a draft's card sides, the crops fields were read from, attachments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Response, abort

from forms.models import AccountRequest, StoredFile
from forms.storage import read_stored
from web.app import db, services

PRIVATE = {"Cache-Control": "private, no-store"}  # personal data: never kept by a shared cache


def stored_response(file_id: int | None, *, filename: str | None = None) -> Any:
    """The stored file's bytes (404 when there is none), inline, never cached."""
    record = db().get(StoredFile, file_id) if file_id else None
    if record is None:
        abort(404)
    headers = dict(PRIVATE)
    if filename:
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return Response(read_stored(services().storage, record), mimetype=record.content_type, headers=headers)


def side_file_id(draft: AccountRequest, side: str | None) -> int | None:
    """The stored straightened image of one side of the draft's card."""
    found: int | None = json.loads(draft.reading or "{}").get("side_files", {}).get(side) if side else None
    return found


def crop_response(draft: AccountRequest, side: str | None, box: Sequence[int] | None) -> Any:
    """The part of a side a field was read from, as JPEG; 404 when the reading has no box for it."""
    from intake.counter import crop_card

    file_id = side_file_id(draft, side)
    record = db().get(StoredFile, file_id) if file_id else None
    if record is None or not box:
        abort(404)
    image = crop_card(read_stored(services().storage, record), box)
    if image is None:
        abort(404)
    return Response(image, mimetype="image/jpeg", headers=PRIVATE)
