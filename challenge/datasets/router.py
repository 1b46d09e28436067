from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from challenge.core.bodylimit import UPLOAD_BODY
from challenge.core.deps import (
    ChallengeSlug,
    CurrentUser,
    DatasetId,
    SessionDep,
    SettingsDep,
    StorageDep,
    check_then_release,
)
from challenge.core.pagination import Page, PageDep
from challenge.core.text import DatasetName
from challenge.core.uploads import receive_upload
from challenge.datasets import presenters, service
from challenge.datasets.manifest import ManifestDataset
from challenge.datasets.schemas import DatasetDetail, DatasetPublic

router = APIRouter(tags=["datasets"])


@router.post("/challenges/{slug}/datasets", status_code=status.HTTP_201_CREATED,
             response_model=DatasetDetail, openapi_extra=UPLOAD_BODY)
async def upload_dataset(slug: ChallengeSlug, request: Request, db: SessionDep, user: CurrentUser,
                         settings: SettingsDep, storage: StorageDep,
                         name: Annotated[DatasetName, Query()],
                         strip_identifiers: Annotated[bool, Query(
                             description="store copies without the NIfTI header fields and "
                             "extensions that can identify a patient, instead of refusing "
                             "the upload (422 identifying_headers)")] = False) -> DatasetDetail:
    """Upload a hidden test set as the raw body (tar or tar.gz; layout in the README):
    ``inputs/<case>/<channel>.nii.gz`` and ``references/<case>.nii.gz``. Organizers only.
    The reference masks are stored, checksummed and never served by any endpoint. A NIfTI
    file with content in a free-text header field or a header extension refuses the upload
    unless ``strip_identifiers`` (then stripped copies are stored; the audit log says which
    fields of which files)."""
    await run_in_threadpool(check_then_release, db, service.check_can_upload, user=user,
                            slug=slug, name=name)
    async with receive_upload(request, storage, settings.max_dataset_bytes) as upload:
        dataset = await run_in_threadpool(
            service.create_from_archive, db=db, storage=storage, user=user, slug=slug, name=name,
            archive=upload.path, max_bytes=settings.max_dataset_bytes,
            max_voxels=settings.max_case_voxels, strip_identifiers=strip_identifiers)
    return presenters.dataset_detail(db, dataset)


@router.post("/challenges/{slug}/datasets/manifest", status_code=status.HTTP_201_CREATED,
             response_model=DatasetDetail)
def register_manifest(slug: ChallengeSlug, body: ManifestDataset, db: SessionDep,
                      user: CurrentUser, settings: SettingsDep) -> DatasetDetail:
    """Register a hidden test set by its manifest only (``segarena dataset manifest``): case
    ids, channels, grids and checksums, no voxel. Organizers only. It can be attached only to
    a phase with an evaluation site, which holds the files."""
    dataset = service.create_from_manifest(db=db, user=user, slug=slug, manifest=body,
                                           max_voxels=settings.max_case_voxels)
    return presenters.dataset_detail(db, dataset)


@router.get("/challenges/{slug}/datasets", response_model=Page[DatasetPublic])
def list_datasets(slug: ChallengeSlug, db: SessionDep, user: CurrentUser,
                  page: PageDep) -> Page[DatasetPublic]:
    """Organizers: the challenge's datasets, oldest first, paginated (``limit``, ``cursor``)."""
    datasets = service.list_for_challenge(db=db, user=user, slug=slug, page=page)
    return datasets.page(lambda rows: presenters.datasets_public(db, rows))


@router.get("/datasets/{dataset_id}", response_model=DatasetDetail)
def get_dataset(dataset_id: DatasetId, db: SessionDep, user: CurrentUser) -> DatasetDetail:
    return presenters.dataset_detail(db, service.get(db=db, user=user, dataset_id=dataset_id))
