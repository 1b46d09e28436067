"""Resumable uploads: creating one (with every check the API's upload route makes before it
reads a body), recording the bytes received, handing the finished file to the same service
call as the API's upload route, expiring what was abandoned.

Files live at ``<storage root>/uploads/<public id>.part`` until the upload ends; then the
service that keeps them moves them (a submission) or copies what it keeps (a dataset), and
what is left is removed.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.core.bounds import MAX_ID
from challenge.core.config import Settings
from challenge.core.db import utcnow
from challenge.core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
)
from challenge.core.storage import Storage, sha256_file
from challenge.datasets import service as datasets
from challenge.evaluations.dispatch import Dispatcher
from challenge.phases.models import Phase
from challenge.submissions import service as submissions
from challenge.uploads.models import CHECKING, COMPLETE, FAILED, RECEIVING, UNFINISHED, Upload
from challenge.uploads.schemas import UploadMetadata

log = logging.getLogger("segarena.uploads")


def part_path(storage: Storage, upload: Upload) -> Path:
    """Where the bytes of ``upload`` received so far are (its folder is made on demand)."""
    folder = storage.root / "uploads"
    folder.mkdir(exist_ok=True)
    return folder / f"{upload.public_id}.part"


def max_length(settings: Settings, kind: str) -> int:
    """The largest upload of ``kind``, in bytes: the API upload route's limit."""
    return settings.max_submission_bytes if kind == "submission" else settings.max_dataset_bytes


def _phase_id(target: str) -> int:
    if not target.isdigit() or not 1 <= int(target) <= MAX_ID:
        raise InvalidInput("a submission's target is the phase id (a positive number)",
                           code="invalid_metadata")
    return int(target)


def check_target(*, db: Session, user: User, meta: UploadMetadata) -> None:
    """The API upload route's pre-checks, before any byte: for a submission, that the phase
    accepts one from this user now (team, open phase, parent phase, quota); for a dataset,
    that the user organizes the challenge and the name is free."""
    if meta.kind == "submission":
        submissions.check_can_submit(db=db, user=user, phase_id=_phase_id(meta.target))
        return
    if meta.name is None:
        raise InvalidInput("a dataset upload needs a name (Upload-Metadata 'name')",
                           code="invalid_metadata")
    datasets.check_can_upload(db=db, user=user, slug=meta.target, name=meta.name)


def create(*, db: Session, storage: Storage, settings: Settings, user: User, length: int,
           meta: UploadMetadata) -> Upload:
    """A new upload of ``length`` bytes (an empty file), after the size limit (413), the
    expiry of abandoned uploads, the cap on unfinished uploads per person (429
    ``too_many_uploads``) and :func:`check_target`. Commits."""
    limit = max_length(settings, meta.kind)
    if length > limit:
        raise PayloadTooLarge(f"upload exceeds the limit of {limit} bytes")
    cleanup_expired(db=db, storage=storage)
    open_count = db.scalar(select(func.count()).select_from(Upload).where(
        Upload.user_id == user.id, Upload.state.in_(UNFINISHED)))
    if (open_count or 0) >= settings.max_open_uploads:
        raise QuotaExceeded(f"you have {open_count} unfinished uploads; finish or cancel one "
                            "first", code="too_many_uploads")
    check_target(db=db, user=user, meta=meta)
    now = utcnow()
    options: dict[str, Any] = {"comment": meta.comment} if meta.kind == "submission" else {
        "name": meta.name, "strip_identifiers": meta.strip_identifiers}
    upload = Upload(public_id=secrets.token_urlsafe(24), user_id=user.id, kind=meta.kind,
                    target=meta.target, filename=meta.filename, options=options, length=length,
                    offset=0, state=RECEIVING, created_at=now,
                    expires_at=now + timedelta(hours=settings.upload_expiry_hours))
    db.add(upload)
    db.flush()
    part_path(storage, upload).touch()
    db.commit()
    return upload


def get_own(*, db: Session, user: User, public_id: str) -> Upload:
    """``user``'s upload ``public_id``; anyone else's, or an expired unfinished one, is a 404
    (so an id tells a stranger nothing)."""
    upload = db.scalar(select(Upload).where(Upload.public_id == public_id[:64]))
    if upload is None or upload.user_id != user.id or (
            upload.state == RECEIVING and upload.expires_at <= utcnow()):
        raise NotFound("no such upload (it may have expired)")
    return upload


def advance(*, db: Session, upload_id: int, old: int, new: int) -> None:
    """Record that the bytes up to ``new`` are on disk; 409 when another request moved the
    offset meanwhile."""
    moved = db.execute(update(Upload).where(Upload.id == upload_id, Upload.offset == old,
                                            Upload.state == RECEIVING)
                       .values(offset=new)).rowcount  # type: ignore[attr-defined]
    db.commit()
    if moved != 1:
        raise Conflict("the upload's offset changed meanwhile", code="offset_mismatch")


def terminate(*, db: Session, storage: Storage, upload: Upload) -> None:
    """Forget ``upload`` and remove its bytes; one being checked is a 409."""
    if upload.state == CHECKING:
        raise Conflict("the upload is being checked; wait for its result", code="upload_busy")
    part_path(storage, upload).unlink(missing_ok=True)
    db.execute(delete(Upload).where(Upload.id == upload.id))
    db.commit()


def cleanup_expired(*, db: Session, storage: Storage, now: datetime | None = None) -> int:
    """Remove every unfinished upload past its expiry (rows and bytes); returns how many."""
    expired = db.scalars(select(Upload).where(Upload.state == RECEIVING,
                                              Upload.expires_at <= (now or utcnow()))).all()
    for upload in expired:
        part_path(storage, upload).unlink(missing_ok=True)
    if expired:
        db.execute(delete(Upload).where(Upload.id.in_([u.id for u in expired])))
        db.flush()
    return len(expired)


def finish(*, db: Session, storage: Storage, settings: Settings, dispatcher: Dispatcher,
           user: User, upload_id: int) -> None:
    """Hand a fully received upload to the service the API's upload route calls, once (the
    request that claims it), and record the outcome on its row: ``complete`` with the new
    object's page, or ``failed`` with the refusal's code and message. The bytes are gone
    afterwards either way."""
    claimed = db.execute(update(Upload).where(
        Upload.id == upload_id, Upload.state == RECEIVING, Upload.offset == Upload.length)
        .values(state=CHECKING)).rowcount  # type: ignore[attr-defined]
    db.commit()
    if claimed != 1:
        return
    upload = db.get(Upload, upload_id)
    assert upload is not None
    path = part_path(storage, upload)
    try:
        location, challenge_id = _hand_over(db, storage, settings, dispatcher, user, upload,
                                            path)
        _record(db, user, upload_id, location=location, challenge_id=challenge_id)
    except DomainError as exc:
        db.rollback()
        _record(db, user, upload_id, error=(exc.code, exc.message))
    except Exception:
        log.exception("upload %s could not be handed over", upload_id)
        db.rollback()
        _record(db, user, upload_id, error=("internal_error", "an internal error occurred; "
                                            "it was logged for the operators"))
    finally:
        path.unlink(missing_ok=True)


def _hand_over(db: Session, storage: Storage, settings: Settings, dispatcher: Dispatcher,
               user: User, upload: Upload, path: Path) -> tuple[str, int]:
    """(page of the new object, its challenge id), from the API upload route's service."""
    if upload.kind == "submission":
        submission = submissions.submit(
            db=db, storage=storage, user=user, phase_id=_phase_id(upload.target), archive=path,
            size=upload.length, sha256=sha256_file(path),
            comment=upload.options.get("comment", ""), dispatcher=dispatcher,
            max_submission_bytes=settings.max_submission_bytes)
        phase = db.get(Phase, submission.phase_id)
        assert phase is not None
        return f"/submissions/{submission.id}", phase.challenge_id
    dataset = datasets.create_from_archive(
        db=db, storage=storage, user=user, slug=upload.target, name=upload.options["name"],
        archive=path, max_bytes=settings.max_dataset_bytes,
        max_voxels=settings.max_case_voxels,
        strip_identifiers=bool(upload.options.get("strip_identifiers")))
    return f"/organize/{upload.target}/datasets/{dataset.id}", dataset.challenge_id


def _record(db: Session, user: User, upload_id: int, *, location: str | None = None,
            challenge_id: int | None = None, error: tuple[str, str] | None = None) -> None:
    upload = db.get(Upload, upload_id)
    assert upload is not None
    upload.finished_at = utcnow()
    if error is None:
        upload.state, upload.location = COMPLETE, location
        audit.record(db=db, actor=user, action="upload.complete", object_type="upload",
                     object_id=upload.id, challenge_id=challenge_id, kind=upload.kind,
                     bytes=upload.length, location=location)
    else:
        upload.state, upload.error_code, upload.error_message = FAILED, error[0], error[1][:1000]
        audit.record(db=db, actor=user, action="upload.failed", object_type="upload",
                     object_id=upload.id, kind=upload.kind, bytes=upload.length,
                     error_code=error[0])
    db.commit()


def result(upload: Upload) -> dict[str, Any]:
    """``GET /uploads/<id>/result``: ``state`` (``receiving`` until the outcome is known,
    then ``complete`` or ``failed``), ``location`` (the new object's page, or null) and
    ``error`` (``{"code", "message"}`` or null)."""
    state = RECEIVING if upload.state == CHECKING else upload.state
    error = ({"code": upload.error_code, "message": upload.error_message}
             if upload.state == FAILED else None)
    return {"state": state, "location": upload.location, "error": error}
