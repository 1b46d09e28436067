"""Both upload routes (a submission, a dataset) answer a ``Content-Length`` above their limit
with 413 before a byte of the body is read (``challenge.core.uploads.receive_upload``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.challenge.authz_world import World, build
from tests.reliability.input_world import asgi_post, chunks_of

UPLOADS = [("/api/v1/phases/{phase}/submissions", "member", "max_submission_bytes"),
           ("/api/v1/challenges/alpha/datasets?name=fresh", "organizer", "max_dataset_bytes")]


@pytest.fixture
def world(db, app: FastAPI, tmp_path: Path) -> World:  # type: ignore[no-untyped-def]
    return build(db, app.state.storage, tmp_path)


@pytest.mark.parametrize(("path", "role", "limit"), UPLOADS, ids=["submission", "dataset"])
def test_upload_declared_past_its_limit_is_413_before_a_byte_is_read(
        app: FastAPI, world: World, path: str, role: str, limit: str) -> None:
    declared = getattr(app.state.settings, limit) + 1
    start, answer, received = asgi_post(
        app, path.format(**world.ids), chunks_of(1024 * 1024),
        {**{k.lower(): v for k, v in world.headers(role).items()},
         "content-type": "application/octet-stream", "content-length": str(declared)})
    assert start["status"] == 413, answer
    assert answer["error"]["code"] == "payload_too_large"
    assert received == 0
    assert not list((app.state.storage.root / "tmp").iterdir()), "nothing is left in tmp/"
