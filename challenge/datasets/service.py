from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.challenges.models import Challenge
from challenge.core.conflicts import unique_conflicts
from challenge.core.errors import Conflict, InvalidInput, NotFound
from challenge.core.storage import Storage, remove_tree
from challenge.core.text import DATASET_NAME
from challenge.datasets import ingest
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
                        archive: Path, max_bytes: int, max_voxels: int) -> Dataset:
    """Validate the uploaded archive, move it into storage and record it. All or nothing.

    Two uploads of one name at once: the second to insert is a 409 ``dataset_exists``.
    """
    challenge = check_can_upload(db=db, user=user, slug=slug, name=name)
    key = storage.new_key()
    staging = storage.temp_path("-dataset")
    final = storage.dataset_dir(key)
    try:
        staged = ingest.unpack(archive, staging, max_bytes=max_bytes, max_voxels=max_voxels)
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


def list_for_challenge(*, db: Session, user: User, slug: str) -> list[Dataset]:
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    return list(db.scalars(select(Dataset).where(Dataset.challenge_id == challenge.id)
                           .order_by(Dataset.id)))


def get(*, db: Session, user: User, dataset_id: int) -> Dataset:
    dataset = db.get(Dataset, dataset_id)
    if dataset is None or not access.is_organizer(db, user, dataset.challenge_id):
        raise NotFound(f"no dataset {dataset_id}")
    return dataset
