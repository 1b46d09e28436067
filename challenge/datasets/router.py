from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from challenge.challenges.models import Challenge
from challenge.core.bodylimit import UPLOAD_BODY
from challenge.core.deps import (
    ChallengeSlug,
    CurrentUser,
    DatasetId,
    SessionDep,
    SettingsDep,
    check_then_release,
)
from challenge.core.storage import receive_stream
from challenge.core.text import DatasetName
from challenge.datasets import service
from challenge.datasets.models import Dataset
from challenge.datasets.schemas import CasePublic, DatasetDetail, DatasetPublic

router = APIRouter(tags=["datasets"])

def _public(db: Session, dataset: Dataset) -> DatasetPublic:
    challenge = db.get(Challenge, dataset.challenge_id)
    assert challenge is not None
    return DatasetPublic(id=dataset.id, name=dataset.name, challenge_slug=challenge.slug,
                         channels=dataset.channels, checksum=dataset.checksum,
                         n_cases=dataset.n_cases, size_bytes=dataset.size_bytes,
                         created_at=dataset.created_at)


def _detail(db: Session, dataset: Dataset) -> DatasetDetail:
    return DatasetDetail(**_public(db, dataset).model_dump(), cases=[
        CasePublic(case_id=c.case_id, shape=c.shape, input_checksums=c.input_checksums,
                   reference_checksum=c.reference_checksum) for c in dataset.cases])


@router.post("/challenges/{slug}/datasets", status_code=status.HTTP_201_CREATED,
             response_model=DatasetDetail, openapi_extra=UPLOAD_BODY)
async def upload_dataset(slug: ChallengeSlug, request: Request, db: SessionDep, user: CurrentUser,
                         settings: SettingsDep,
                         name: Annotated[DatasetName, Query()]) -> DatasetDetail:
    """Upload a hidden test set as the raw body (tar or tar.gz; layout in the README):
    ``inputs/<case>/<channel>.nii.gz`` and ``references/<case>.nii.gz``. Organizers only.
    The reference masks are stored, checksummed and never served by any endpoint."""
    await run_in_threadpool(check_then_release, db, service.check_can_upload, user=user,
                            slug=slug, name=name)
    storage = request.app.state.storage
    tmp = storage.temp_path(".upload")
    try:
        await receive_stream(request.stream(), tmp, settings.max_dataset_bytes)
        dataset = await run_in_threadpool(
            service.create_from_archive, db=db, storage=storage, user=user, slug=slug, name=name,
            archive=tmp, max_bytes=settings.max_dataset_bytes,
            max_voxels=settings.max_case_voxels)
    finally:
        tmp.unlink(missing_ok=True)
    return _detail(db, dataset)


@router.get("/challenges/{slug}/datasets", response_model=list[DatasetPublic])
def list_datasets(slug: ChallengeSlug, db: SessionDep, user: CurrentUser) -> list[DatasetPublic]:
    return [_public(db, d) for d in service.list_for_challenge(db=db, user=user, slug=slug)]


@router.get("/datasets/{dataset_id}", response_model=DatasetDetail)
def get_dataset(dataset_id: DatasetId, db: SessionDep, user: CurrentUser) -> DatasetDetail:
    return _detail(db, service.get(db=db, user=user, dataset_id=dataset_id))
