"""The tus 1.0.0 server at ``/uploads/`` (core protocol; creation, termination and
expiration extensions) and ``GET /uploads/<id>/result``.

Who: the session-cookie user or an API token (``challenge.web.deps.page_user``). A request
that authenticates by cookie must carry the ``X-CSRF-Token`` header on POST/PATCH/DELETE; a
bearer-token request cannot be forged by another site and needs none. Errors are the API's
JSON ``{"error": {"code", "message"}}`` with the tus headers, never an HTML page.

HEAD ``/uploads/<id>`` is served by the GET route (``challenge.core.head.HeadAsGet`` runs
every HEAD as a GET and drops the body).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from email.utils import format_datetime
from pathlib import Path
from typing import Annotated, Any

import fastapi
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from challenge.accounts.models import User
from challenge.core.db import release_connection
from challenge.core.deps import DispatcherDep, SessionDep, SettingsDep, StorageDep
from challenge.core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    PayloadTooLarge,
    Unauthorized,
    error_body,
)
from challenge.uploads import receive, service
from challenge.uploads.models import RECEIVING, Upload
from challenge.uploads.schemas import parse_metadata
from challenge.web import csrf
from challenge.web.deps import PageUser

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
OFFSET_STREAM = "application/offset+octet-stream"
#: (method, path) of the requests whose body is an upload's bytes: exempt from the general
#: body cap (``challenge.core.bodylimit``); the PATCH route caps them at the bytes the upload
#: still expects.
BODY_OPERATIONS = [("PATCH", re.compile(r"/uploads/[^/]+"))]


class TusVersionMismatch(DomainError):
    status_code = 412
    code = "tus_version_mismatch"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class TusRoute(APIRoute):
    """Every answer carries ``Tus-Resumable``; a refusal is the API's JSON error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_tus_headers(request: Request) -> Response:
            try:
                response = await handler(request)
            except DomainError as exc:
                response = JSONResponse(error_body(exc.code, exc.message), exc.status_code)
                if isinstance(exc, TusVersionMismatch):
                    response.headers["Tus-Version"] = TUS_VERSION
            response.headers["Tus-Resumable"] = TUS_VERSION
            return response

        return with_tus_headers


router = APIRouter(include_in_schema=False, route_class=TusRoute)
#: An upload's id as ``service.create`` makes them (``secrets.token_urlsafe(24)``: 32 URL-safe
#: characters); anything else is a 422 before the database is asked (PostgreSQL refuses NUL).
UploadId = Annotated[str, fastapi.Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


async def tus_request(tus_resumable: Annotated[str | None, Header()] = None) -> None:
    if tus_resumable != TUS_VERSION:
        raise TusVersionMismatch(f"this server speaks tus {TUS_VERSION}; send the header "
                                 f"Tus-Resumable: {TUS_VERSION}")


async def someone(user: PageUser) -> User:
    if user is None:
        raise Unauthorized("sign in, or send an API token, to upload", code="not_authenticated")
    return user


async def uploader(user: Annotated[User, Depends(someone)],
                   _: Annotated[None, Depends(csrf.protect_unless_bearer)]) -> User:
    """The person uploading (session cookie or API token: nobody is a 401 first); a
    cookie-authenticated change must carry the CSRF header."""
    return user


Uploader = Annotated[User, Depends(uploader)]
TusChecked = Depends(tus_request)


def _expires(upload: Upload) -> dict[str, str]:
    if upload.state != RECEIVING:
        return {}
    return {"Upload-Expires": format_datetime(upload.expires_at, usegmt=True)}


def _length(value: str | None, header: str) -> int:
    if value is None or not value.isdigit() or len(value) > 19:
        raise InvalidInput(f"{header} must be a number of bytes", code="invalid_header")
    return int(value)


@router.options("/uploads/")
async def capabilities(settings: SettingsDep) -> Response:
    biggest = max(settings.max_submission_bytes, settings.max_dataset_bytes)
    return Response(status_code=204, headers={
        "Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS, "Tus-Max-Size": str(biggest)})


@router.post("/uploads/", dependencies=[TusChecked])
async def create_upload(db: SessionDep, user: Uploader, settings: SettingsDep,
                        storage: StorageDep,
                        upload_length: Annotated[str | None, Header()] = None,
                        upload_metadata: Annotated[str | None, Header()] = None) -> Response:
    """Creation: ``Upload-Length`` (bytes) and ``Upload-Metadata`` (``kind``, ``target``,
    ...; ``challenge.uploads.schemas``). Refused before any byte is stored: too large (413),
    a phase that takes no submission from this user now, a challenge they do not organize."""
    length = _length(upload_length, "Upload-Length")
    meta = parse_metadata(upload_metadata)
    upload = await run_in_threadpool(service.create, db=db, storage=storage, settings=settings,
                                     user=user, length=length, meta=meta)
    return Response(status_code=201, headers={"Location": f"/uploads/{upload.public_id}",
                                              **_expires(upload)})


@router.get("/uploads/{public_id}", dependencies=[TusChecked])
def upload_offset(public_id: UploadId, db: SessionDep, user: Uploader) -> Response:
    """HEAD (and GET): where to resume, ``Upload-Offset`` of ``Upload-Length`` bytes."""
    upload = service.get_own(db=db, user=user, public_id=public_id)
    return Response(status_code=200, headers={
        "Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length),
        "Cache-Control": "no-store", **_expires(upload)})


@router.patch("/uploads/{public_id}", dependencies=[TusChecked])
async def append_bytes(public_id: UploadId, request: Request, db: SessionDep, user: Uploader,
                       settings: SettingsDep, storage: StorageDep, dispatcher: DispatcherDep,
                       upload_offset: Annotated[str | None, Header()] = None) -> Response:
    """Bytes from ``Upload-Offset`` on (which must be the stored offset: else 409), streamed
    to disk. The request that brings the last byte hands the file over
    (``service.finish``) before it answers; the outcome is at ``/uploads/<id>/result``."""
    if request.headers.get("content-type", "").split(";")[0].strip() != OFFSET_STREAM:
        raise UnsupportedMediaType(f"the body of a PATCH must be {OFFSET_STREAM}")
    offset = _length(upload_offset, "Upload-Offset")
    upload = await run_in_threadpool(service.get_own, db=db, user=user, public_id=public_id)
    path = service.part_path(storage, upload)
    fd = receive.lock(path)
    try:
        new_offset = await _receive(request, db, upload, path, offset)
    finally:
        receive.unlock(fd)
    if new_offset == upload.length:
        await run_in_threadpool(service.finish, db=db, storage=storage, settings=settings,
                                dispatcher=dispatcher, user=user, upload_id=upload.id)
    return Response(status_code=204, headers={"Upload-Offset": str(new_offset),
                                              **_expires(upload)})


async def _receive(request: Request, db: Session, upload: Upload, path: Path,
                   offset: int) -> int:
    """Check the offset under the lock, stream the body, record the new offset."""
    await run_in_threadpool(db.refresh, upload)
    if upload.state != RECEIVING or offset != upload.offset:
        release_connection(db)
        raise Conflict(f"the upload is at byte {upload.offset}, not {offset}"
                               if upload.state == RECEIVING else "the upload is finished",
                               code="offset_mismatch")
    remaining = upload.length - offset
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > remaining:
        release_connection(db)
        raise PayloadTooLarge(f"this PATCH carries more than the {remaining} bytes the upload "
                              "still expects")
    release_connection(db)  # no connection is held while the bytes arrive
    written = await receive.append(request.stream(), path, offset, remaining)
    await run_in_threadpool(service.advance, db=db, upload_id=upload.id, old=offset,
                            new=offset + written)
    return offset + written


@router.delete("/uploads/{public_id}", dependencies=[TusChecked])
def terminate_upload(public_id: UploadId, db: SessionDep, user: Uploader,
                     storage: StorageDep) -> Response:
    """Termination: the upload and its bytes are removed (204)."""
    upload = service.get_own(db=db, user=user, public_id=public_id)
    service.terminate(db=db, storage=storage, upload=upload)
    return Response(status_code=204)


@router.get("/uploads/{public_id}/result")
def upload_result(public_id: UploadId, db: SessionDep, user: PageUser) -> JSONResponse:
    """``{"state", "location", "error"}`` (``service.result``), never cached."""
    if user is None:
        raise Unauthorized("sign in, or send an API token", code="not_authenticated")
    upload = service.get_own(db=db, user=user, public_id=public_id)
    return JSONResponse(service.result(upload), headers={"Cache-Control": "no-store"})
