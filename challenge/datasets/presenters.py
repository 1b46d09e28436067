"""Datasets as the API shows them to organizers: metadata and checksums, never bytes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from challenge.challenges import service as challenges
from challenge.datasets.models import Dataset
from challenge.datasets.schemas import CasePublic, DatasetDetail, DatasetPublic


def _public(dataset: Dataset, challenge_slug: str) -> DatasetPublic:
    return DatasetPublic(id=dataset.id, name=dataset.name, challenge_slug=challenge_slug,
                         channels=dataset.channels, checksum=dataset.checksum,
                         n_cases=dataset.n_cases, size_bytes=dataset.size_bytes,
                         created_at=dataset.created_at, manifest_only=dataset.manifest_only,
                         raters=dataset.raters or [])


def datasets_public(db: Session, datasets: Sequence[Dataset]) -> list[DatasetPublic]:
    """``datasets`` in their order; their challenges' slugs in one query."""
    slugs = challenges.slugs_by_id(db=db, ids=(d.challenge_id for d in datasets))
    return [_public(d, slugs[d.challenge_id]) for d in datasets]


def dataset_detail(db: Session, dataset: Dataset) -> DatasetDetail:
    """One dataset with the checksums and shape of every case."""
    [public] = datasets_public(db, [dataset])
    return DatasetDetail(**public.model_dump(), cases=[
        CasePublic(case_id=c.case_id, shape=c.shape, input_checksums=c.input_checksums,
                   reference_checksum=c.reference_checksum,
                   rater_checksums=c.rater_checksums or {}) for c in dataset.cases])
