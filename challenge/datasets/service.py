from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.challenges.models import Challenge
from challenge.core.conflicts import unique_conflicts
from challenge.core.errors import Conflict, InvalidInput, NotFound
from challenge.core.pagination import Key, Keyset, Paged, PageRequest, fetch
from challenge.core.storage import Storage, remove_tree
from challenge.core.text import DATASET_NAME
from challenge.datasets import ingest
from challenge.datasets.manifest import ManifestDataset
from challenge.datasets.models import Dataset, DatasetCase


def check_can_upload(*, db: Session, user: User, slug: str, name: str) -> Challenge:
    """Cheap checks before the upload body is read."""
    if not DATASET_NAME.matches(name):
        raise InvalidInput(f"dataset name: {DATASET_NAME.description}", code="bad_dataset_name")
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    if db.scalar(select(Dataset.id).where(Dataset.challenge_id == challenge.id,
                                          Dataset.name == name)) is not None:
        raise Conflict(f"this challenge has a dataset {name!r} already", code="dataset_exists")
    return challenge


def create_from_archive(*, db: Session, storage: Storage, user: User, slug: str, name: str,
                        archive: Path, max_bytes: int, max_voxels: int,
                        strip_identifiers: bool = False) -> Dataset:
    """Validate the uploaded archive, move it into storage and record it. All or nothing.

    NIfTI headers with identifying content refuse the upload (422 ``identifying_headers``)
    unless ``strip_identifiers``: then only stripped copies are stored and checksummed, and
    the audit log lists which fields of which files were stripped (names, never content).

    Two uploads of one name at once: the second to insert is a 409 ``dataset_exists``.
    """
    challenge = check_can_upload(db=db, user=user, slug=slug, name=name)
    key = storage.new_key()
    staging = storage.temp_path("-dataset")
    final = storage.dataset_dir(key)
    try:
        staged = ingest.unpack(archive, staging, max_bytes=max_bytes, max_voxels=max_voxels,
                               strip_identifiers=strip_identifiers)
        dataset = Dataset(challenge_id=challenge.id, name=name, channels=staged.channels,
                          storage_key=key, checksum=staged.checksum, n_cases=len(staged.cases),
                          size_bytes=staged.size_bytes, created_by_id=user.id,
                          raters=staged.raters)
        dataset.cases = [DatasetCase(case_id=c.case_id, input_checksums=c.input_checksums,
                                     reference_checksum=c.reference_checksum, shape=c.shape,
                                     rater_checksums=c.rater_checksums)
                         for c in staged.cases]
        db.add(dataset)
        with unique_conflicts(db):
            db.flush()
        audit.record(db=db, actor=user, action="dataset.create", object_type="dataset",
                     object_id=dataset.id, challenge_id=challenge.id, name=name,
                     checksum=dataset.checksum, n_cases=dataset.n_cases,
                     raters=staged.raters)
        if staged.stripped:
            audit.record(db=db, actor=user, action="dataset.identifiers_stripped",
                         object_type="dataset", object_id=dataset.id,
                         challenge_id=challenge.id, files=staged.stripped)
        os.rename(staging, final)
        try:
            db.commit()
        except BaseException:
            remove_tree(final)
            raise
    except BaseException:
        db.rollback()
        remove_tree(staging)
        raise
    return dataset


def create_from_manifest(*, db: Session, user: User, slug: str, manifest: ManifestDataset,
                         max_voxels: int) -> Dataset:
    """Register a dataset by its manifest only (``challenge.datasets.manifest``): no file is
    stored; it can score only a phase with an evaluation site, whose worker holds the cases.
    A case declaring more than ``max_voxels`` voxels is a 422, as for an upload."""
    challenge = check_can_upload(db=db, user=user, slug=slug, name=manifest.name)
    too_large = [c.case_id for c in manifest.cases if c.voxels > max_voxels]
    if too_large:
        raise InvalidInput(f"case {too_large[0]!r} declares more than {max_voxels} voxels",
                           code="invalid_nifti_too_large")
    dataset = Dataset(challenge_id=challenge.id, name=manifest.name,
                      channels=sorted(manifest.channels),
                      storage_key=f"manifest-{secrets.token_hex(16)}",
                      checksum=manifest.checksum, n_cases=len(manifest.cases), size_bytes=0,
                      created_by_id=user.id, manifest_only=True)
    dataset.cases = [DatasetCase(case_id=c.case_id, input_checksums=dict(c.input_checksums),
                                 reference_checksum=c.reference_checksum, shape=c.shape,
                                 affine=c.affine) for c in manifest.cases]
    db.add(dataset)
    with unique_conflicts(db):
        db.flush()
    audit.record(db=db, actor=user, action="dataset.create_manifest", object_type="dataset",
                 object_id=dataset.id, challenge_id=challenge.id, name=manifest.name,
                 checksum=dataset.checksum, n_cases=dataset.n_cases)
    db.commit()
    return dataset


OLDEST_FIRST = Keyset("datasets", (Key(Dataset.id),))


def list_for_challenge(*, db: Session, user: User, slug: str,
                       page: PageRequest) -> Paged[Dataset]:
    """Organizers: one page of the challenge's datasets, oldest first."""
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    return fetch(db, select(Dataset).where(Dataset.challenge_id == challenge.id),
                 OLDEST_FIRST, page)


def get(*, db: Session, user: User, dataset_id: int) -> Dataset:
    dataset = db.get(Dataset, dataset_id)
    if dataset is None or not access.is_organizer(db, user, dataset.challenge_id):
        raise NotFound(f"no dataset {dataset_id}")
    return dataset
