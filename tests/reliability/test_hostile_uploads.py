"""Hostile uploads through the HTTP API of a real uvicorn server (SQLite, committing).

Every attack gets a 4xx with a stable error code and leaves nothing behind: no submission,
evaluation or dataset row, no file under the storage root's ``tmp/``, ``submissions/`` or
``datasets/``, and the team's quota is not charged.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from challenge.datasets.models import Dataset
from challenge.evaluations.models import Evaluation
from challenge.submissions.models import Submission
from tests import factories as f
from tests.reliability.hostile_archives import dataset_attacks, submission_attacks
from tests.reliability.live import (
    Arena,
    Live,
    arena,
    committed_database,
    http,
    live_settings,
    serve,
)

MAX_SUBMISSION = 2 * 1024 * 1024
MAX_DATASET = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, Arena]]:
    tmp = tmp_path_factory.mktemp("hostile")
    with committed_database("sqlite", tmp) as url:
        settings = live_settings(url, tmp / "storage", max_submission_bytes=MAX_SUBMISSION,
                                 max_dataset_bytes=MAX_DATASET)
        with serve(settings) as live:
            yield live, arena(live.factory)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for sub in ("tmp", "submissions", "datasets")
                  for p in (root / sub).rglob("*"))


def _rows(live: Live) -> tuple[int, int, int]:
    with live.factory() as db:
        return tuple(int(db.scalar(select(func.count()).select_from(t)) or 0)  # type: ignore[return-value]
                     for t in (Submission, Evaluation, Dataset))


def _assert_nothing_left(live: Live, world_arena: Arena) -> None:
    assert _rows(live) == (0, 0, 0)
    assert _files(live.storage_root) == []
    with http(live) as c:
        quota = c.get(f"/api/v1/phases/{world_arena.phase_id}/quota",
                      headers=world_arena.member_headers).json()
    assert quota["per_day_used"] == 0 and quota["total_used"] == 0


def _wait_until_clean(live: Live) -> None:
    """The server notices a disconnect asynchronously: give it a moment to clean up."""
    for _ in range(200):
        if _files(live.storage_root) == []:
            return
        time.sleep(0.05)


@pytest.mark.parametrize("attack", sorted(submission_attacks()))
def test_hostile_submission_archive_is_refused_without_trace(world, attack: str) -> None:
    live, a = world
    body, status, code = submission_attacks()[attack]
    with http(live) as c:
        response = c.post(f"/api/v1/phases/{a.phase_id}/submissions", content=body,
                          headers=a.member_headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    _assert_nothing_left(live, a)


@pytest.mark.parametrize("attack", sorted(dataset_attacks()))
def test_hostile_dataset_archive_is_refused_without_trace(world, attack: str) -> None:
    live, a = world
    body, status, code = dataset_attacks()[attack]
    with http(live) as c:
        response = c.post("/api/v1/challenges/alpha/datasets?name=hidden", content=body,
                          headers=a.org_headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    _assert_nothing_left(live, a)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_oversize_submission_is_413_and_leaves_nothing(world, declared: bool) -> None:
    live, a = world
    body = f.image_archive() + bytes(MAX_SUBMISSION)  # a valid tar followed by padding

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    with http(live) as c:
        response = c.post(f"/api/v1/phases/{a.phase_id}/submissions",
                          content=body if declared else chunks(), headers=a.member_headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    _wait_until_clean(live)
    _assert_nothing_left(live, a)


def test_oversize_dataset_is_413_and_leaves_nothing(world) -> None:
    live, a = world
    with http(live) as c:
        response = c.post("/api/v1/challenges/alpha/datasets?name=big",
                          content=bytes(MAX_DATASET + 1), headers=a.org_headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    _wait_until_clean(live)
    _assert_nothing_left(live, a)


def _disconnect_mid_body(live: Live, path: str, headers: dict[str, str], declared: int,
                         sent: bytes) -> None:
    host, port = live.url.removeprefix("http://").split(":")
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n"
            f"Content-Type: application/octet-stream\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    with socket.create_connection((host, int(port))) as s:
        s.sendall(head + sent)
        time.sleep(0.5)  # let the server start writing the upload to tmp/
    # closed with the body incomplete


@pytest.mark.parametrize("target", ["submission", "dataset"])
def test_interrupted_upload_leaves_nothing(world, target: str) -> None:
    live, a = world
    body = f.image_archive() if target == "submission" else f.tiny_dataset(2).tar_bytes()
    path = (f"/api/v1/phases/{a.phase_id}/submissions" if target == "submission"
            else "/api/v1/challenges/alpha/datasets?name=cut")
    headers = a.member_headers if target == "submission" else a.org_headers
    _disconnect_mid_body(live, path, headers, declared=len(body) + 500_000,
                         sent=body + bytes(100_000))
    _wait_until_clean(live)
    _assert_nothing_left(live, a)
    with http(live) as c:  # the server still answers
        assert c.get("/api/v1/challenges").status_code == 200
