"""A challenge's hidden datasets for organizers: the list and upload form, the no-JavaScript
upload route (the API's dataset service), and one dataset's cases, grids and checksums.
No page links to or serves any file of a dataset."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from challenge.core.bodylimit import PAGE_UPLOAD
from challenge.core.deps import DatasetId, SessionDep, SettingsDep, StorageDep
from challenge.core.errors import DomainError, InvalidInput, NotFound
from challenge.core.pagination import PageDep
from challenge.core.text import DatasetName
from challenge.datasets import presenters, service
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.forms import Form, errors_of, text_values
from challenge.web.organizers.deps import OrganizedChallenge
from challenge.web.render import PageRoute, page
from challenge.web.upload_forms import require_declared_length, save_upload

router = APIRouter(include_in_schema=False, route_class=PageRoute)
NAME = TypeAdapter(DatasetName)


async def limit_declared_length(request: Request, settings: SettingsDep) -> None:
    """The dataset form's declared length, checked before a byte of it is parsed."""
    require_declared_length(request, settings.max_dataset_bytes)


def _list_page(request: Request, db: SessionDep, user: SignedInUser,
               challenge: OrganizedChallenge, page_request: PageDep,
               values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               status: int = 200) -> HTMLResponse:
    found = service.list_for_challenge(db=db, user=user, slug=challenge.slug, page=page_request)
    return page(request, "organizer/datasets.html", {
        "title": f"{challenge.title}: datasets", "challenge": challenge,
        "datasets": presenters.datasets_public(db, found.items),
        "next_cursor": found.next_cursor, "values": values or {}, "errors": errors or {}},
        status=status)


@router.get("/organize/{slug}/datasets")
def datasets_page(request: Request, db: SessionDep, user: SignedInUser,
                  challenge: OrganizedChallenge, page_request: PageDep) -> HTMLResponse:
    return _list_page(request, db, user, challenge, page_request)


@router.post("/organize/{slug}/datasets", openapi_extra=PAGE_UPLOAD,
             dependencies=[Depends(limit_declared_length), CsrfChecked])
async def upload_dataset(request: Request, db: SessionDep, user: SignedInUser,
                         challenge: OrganizedChallenge, settings: SettingsDep,
                         storage: StorageDep, page_request: PageDep, form: Form) -> Response:
    """The upload form without JavaScript: fields ``name``, ``strip_identifiers`` and the
    archive ``file`` (spooled to disk by the form parser, then moved into storage's tmp).
    Refusals re-render the form (422/409/413...) with the message next to its field."""
    values = text_values(form)
    upload = form.get("file")
    try:
        name = NAME.validate_python(values.get("name", ""))
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose a .tar.gz archive of the dataset", code="no_file")
    except ValidationError as exc:
        return _list_page(request, db, user, challenge, page_request, values,
                          {"name": errors_of(exc)["form"]}, status=422)
    except DomainError as exc:
        return _list_page(request, db, user, challenge, page_request, values,
                          {"file": exc.message}, status=exc.status_code)
    archive = storage.temp_path("-dataset-form")
    try:
        await run_in_threadpool(save_upload, upload, archive, settings.max_dataset_bytes)
        dataset = await run_in_threadpool(
            service.create_from_archive, db=db, storage=storage, user=user, slug=challenge.slug,
            name=name, archive=archive, max_bytes=settings.max_dataset_bytes,
            max_voxels=settings.max_case_voxels,
            strip_identifiers=bool(values.get("strip_identifiers")))
    except DomainError as exc:
        return _list_page(request, db, user, challenge, page_request, values,
                          {"file": exc.message}, status=exc.status_code)
    finally:
        archive.unlink(missing_ok=True)
    return RedirectResponse(f"/organize/{challenge.slug}/datasets/{dataset.id}", status_code=303)


@router.get("/organize/{slug}/datasets/{dataset_id}")
def dataset_page(request: Request, dataset_id: DatasetId, db: SessionDep, user: SignedInUser,
                 challenge: OrganizedChallenge) -> HTMLResponse:
    """Cases with their grid (shape), per-channel and reference checksums and raters."""
    dataset = service.get(db=db, user=user, dataset_id=dataset_id)
    if dataset.challenge_id != challenge.id:
        raise NotFound(f"no dataset {dataset_id}")
    return page(request, "organizer/dataset.html", {
        "title": dataset.name, "challenge": challenge,
        "dataset": presenters.dataset_detail(db, dataset)})
