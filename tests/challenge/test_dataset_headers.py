"""Issue 14: a dataset whose NIfTI headers carry identifying content is refused at the door
(422 naming each file and field, never the content), or stored stripped on request; on
SQLite and PostgreSQL (the ``client`` fixture runs on both)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import nibabel as nib
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.audit.models import AuditEvent
from challenge.core.config import Settings
from challenge.core.storage import Storage
from challenge.datasets.ingest import StagedCase, StagedDataset
from challenge.datasets.models import Dataset
from challenge.evaluations.worker import EvaluationWorker
from evaluator import headers
from evaluator.spec import ReferenceSpec
from tests import factories as f
from tests.challenge.authz_world import World, build
from tests.evaluator import identifying as ident

ALL_V1 = ["data_type", "db_name", "descrip", "aux_file", "intent_name"]
EXTENSIONS = ["extension 1 (dicom, code 2)", "extension 2 (afni, code 4)",
              "extension 3 (comment, code 6)", "extension 4 (mrs, code 44)",
              "extension 5 (unknown, code 1234)"]


@pytest.fixture
def world(db: Session, app: FastAPI, tmp_path: Path) -> World:
    return build(db, app.state.storage, tmp_path)


def _upload(client: TestClient, world: World, body: bytes, **query: Any) -> Any:
    return client.post(f"/api/v1/challenges/alpha/datasets?{urlencode({'name': 'scans', **query})}",
                       content=body, headers=world.headers("organizer"))


def _audit_text(db: Session) -> str:
    db.expire_all()
    return json.dumps([[e.action, e.detail] for e in db.scalars(select(AuditEvent))])


def _dataset_names(db: Session) -> list[str]:
    db.expire_all()
    return sorted(db.scalars(select(Dataset.name)))


def test_identifying_headers_refuse_the_dataset_naming_files_and_fields(
        client: TestClient, world: World, db: Session, app: FastAPI,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = _upload(client, world, ident.dataset().tar_bytes())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "identifying_headers"
    assert ("inputs/case001/flair.nii.gz: " + ", ".join(ALL_V1 + EXTENSIONS)) in error["message"]
    assert "references/case001.nii.gz: descrip, extension 1 (dicom, code 2)" in error["message"]
    assert "inputs/case002/flair.nii.gz: gzip file name" in error["message"]
    assert "inputs/case002/t1.nii.gz: descrip" in error["message"]
    assert "case000" not in error["message"]
    assert error["details"]["n_files"] == 4
    assert error["details"]["files"][0] == {
        "file": "inputs/case001/flair.nii.gz",
        "fields": ALL_V1 + EXTENSIONS}
    needle = ident.PATIENT[:10]
    assert needle not in response.text
    assert needle not in caplog.text
    assert needle not in _audit_text(db)
    assert _dataset_names(db) == ["held", "hidden"]  # the world's own, nothing new
    assert ident.files_with_patient(app.state.storage.root) == []


def _stored(storage: Storage, dataset: Dataset) -> dict[str, Path]:
    root = storage.dataset_dir(dataset.storage_key)
    return {p.relative_to(root).as_posix(): p for p in headers.nifti_files(root)}


def test_strip_identifiers_stores_only_clean_copies_and_audits_the_fields(
        client: TestClient, world: World, db: Session, app: FastAPI, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = ident.dataset()
    response = _upload(client, world, source.tar_bytes(), strip_identifiers="true")
    assert response.status_code == 201, response.text
    needle = ident.PATIENT[:10]
    assert needle not in response.text and needle not in caplog.text
    storage: Storage = app.state.storage
    assert ident.files_with_patient(storage.root) == []
    db.expire_all()
    dataset = db.get(Dataset, response.json()["id"])
    assert dataset is not None
    stored = _stored(storage, dataset)
    assert len(stored) == 9
    originals = source.write_dir(tmp_path / "original")
    for name, path in stored.items():
        assert headers.inspect(path) == [], name
        before, after = nib.load(originals / name), nib.load(path)
        np.testing.assert_array_equal(np.asarray(after.dataobj), np.asarray(before.dataobj))
        np.testing.assert_array_equal(after.affine, before.affine)
        np.testing.assert_array_equal(after.get_sform(), before.get_sform())
        np.testing.assert_array_equal(after.get_qform(), before.get_qform())
    # The checksums are those of the stored (stripped) files, and of a local strip.
    digest = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in stored.items()}
    cases = [StagedCase(c.case_id, {ch: digest[f"inputs/{c.case_id}/{ch}.nii.gz"]
                                    for ch in c.input_checksums},
                        digest[f"references/{c.case_id}.nii.gz"]) for c in dataset.cases]
    assert {c.case_id: c.input_checksums for c in cases} == {
        c.case_id: c.input_checksums for c in dataset.cases}
    assert dataset.checksum == StagedDataset(dataset.channels, cases, 0).checksum
    assert dataset.size_bytes == sum(p.stat().st_size for p in stored.values())
    local = tmp_path / "local"
    for name in stored:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        headers.strip(originals / name, local / name)
        assert (local / name).read_bytes() == stored[name].read_bytes(), name
    assert digest["inputs/case000/flair.nii.gz"] == hashlib.sha256(
        source.cases["case000"]["flair"]).hexdigest()  # a clean file is stored as uploaded
    # The audit log names the fields of the files that were stripped, never their content.
    events = [e for e in db.scalars(select(AuditEvent).where(
        AuditEvent.action == "dataset.identifiers_stripped"))]
    assert len(events) == 1 and events[0].object_id == str(dataset.id)
    assert events[0].detail["files"] == {
        "inputs/case001/flair.nii.gz": headers.inspect(originals / "inputs/case001/flair.nii.gz"),
        "inputs/case002/flair.nii.gz": ["gzip file name"],
        "inputs/case002/t1.nii.gz": ["descrip"],
        "references/case001.nii.gz": ["descrip", "extension 1 (dicom, code 2)"]}
    assert needle not in _audit_text(db)


def test_the_worker_mounts_the_stored_stripped_inputs(
        client: TestClient, world: World, db: Session, app: FastAPI, settings: Settings,
        tmp_path: Path) -> None:
    response = _upload(client, world, ident.dataset().tar_bytes(), strip_identifiers="true")
    assert response.status_code == 201, response.text
    dataset = db.get(Dataset, response.json()["id"])
    assert dataset is not None
    storage: Storage = app.state.storage
    worker = EvaluationWorker(app.state.sessionmaker, storage, settings)
    job = SimpleNamespace(dataset_key=dataset.storage_key, case_ids=["case001", "case002"],
                          spec=SimpleNamespace(channels=["flair"], reference=ReferenceSpec()),
                          raters=[])
    staged = worker._stage(job, tmp_path / "run")
    for case in staged:
        mounted = case.input_dir / "flair.nii.gz"
        assert mounted.samefile(storage.dataset_inputs(dataset.storage_key, case.case_id)
                                / "flair.nii.gz")
        assert headers.inspect(mounted) == []
        assert not ident.contains_patient(mounted.read_bytes())


def test_a_clean_dataset_is_stored_as_uploaded_with_or_without_strip(
        client: TestClient, world: World, db: Session) -> None:
    clean = f.tiny_dataset(2)
    plain = _upload(client, world, clean.tar_bytes())
    stripped = client.post("/api/v1/challenges/alpha/datasets?name=again&strip_identifiers=true",
                           content=clean.tar_bytes(), headers=world.headers("organizer"))
    assert plain.status_code == stripped.status_code == 201, (plain.text, stripped.text)
    assert plain.json()["checksum"] == stripped.json()["checksum"]
    assert "identifiers_stripped" not in _audit_text(db)


def _one_case(flair: bytes) -> bytes:
    reference = ident.mask(1, fields=(), extensions=())
    return f.TinyDataset(cases={"case000": {"flair": flair}},
                         references={"case000": reference}).tar_bytes()


def _with_area(area: bytes) -> bytes:
    """A gzipped NIfTI-1 whose bytes between header and voxels are ``area`` padded to 16."""
    area += bytes(-(348 + len(area)) % 16)
    raw = ident.clean(1, gz=False)
    head = raw[:108] + struct.pack("<f", float(348 + len(area))) + raw[112:348]
    return gzip.compress(head + area + raw[352:], mtime=0)


NAME = ident.PATIENT.encode()
LYING_SIZE = _with_area(b"\x01\0\0\0" + struct.pack("<ii", 1 << 30, 2) + NAME)
UNDECLARED = _with_area(bytes(4) + NAME)
HUGE_AREA = ident.patched(ident.clean(1, gz=False), 108, struct.pack("<f", float(1 << 28)))


@pytest.mark.parametrize("flair,strip,status,code", [
    (LYING_SIZE, "false", 422, "identifying_headers"),
    (LYING_SIZE, "true", 201, None),
    (UNDECLARED, "false", 422, "identifying_headers"),
    (UNDECLARED, "true", 201, None),
    (HUGE_AREA, "false", 422, "invalid_nifti_bad_header"),
    (HUGE_AREA, "true", 422, "invalid_nifti_bad_header"),
    (b"\x1f\x8b" + bytes(200), "true", 422, "invalid_nifti_truncated"),
    (gzip.compress(ident.identifying(1, gz=False)[:200]), "true", 422,
     "invalid_nifti_not_nifti"),
    (ident.identifying(1)[:-30], "true", 422, "invalid_nifti_truncated"),
])
def test_hostile_headers_are_a_clear_4xx(client: TestClient, world: World, db: Session,
                                         app: FastAPI, flair: bytes, strip: str, status: int,
                                         code: str | None) -> None:
    response = _upload(client, world, _one_case(flair), strip_identifiers=strip)
    assert response.status_code == status, response.text
    assert ident.PATIENT[:8] not in response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
        assert "inputs/case000/flair.nii.gz" in response.json()["error"]["message"]
        assert _dataset_names(db) == ["held", "hidden"]  # the world's own, nothing new
    assert ident.files_with_patient(app.state.storage.root) == []
