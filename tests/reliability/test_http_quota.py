"""50 concurrent uploads of one team at its quota edge, over HTTP against a real uvicorn
server, on SQLite and PostgreSQL: exactly the remaining quota is accepted, every other upload
is a 429 ``quota_exceeded``, and refused uploads leave no row and no file.

(The service-level version with 16 threads is tests/challenge/test_quota_concurrency.py.)
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from challenge.evaluations.models import Evaluation
from challenge.submissions.models import Submission
from tests import factories as f
from tests.conftest import BACKENDS
from tests.reliability.live import arena, committed_database, http, live_settings, serve

PER_DAY = 5
ALREADY_USED = 2
UPLOADS = 50


@pytest.mark.parametrize("backend", BACKENDS)
def test_fifty_concurrent_http_uploads_accept_exactly_the_quota(backend: str, tmp_path: Path,
                                                                record_property) -> None:
    with committed_database(backend, tmp_path) as url, \
            serve(live_settings(url, tmp_path / "storage")) as live:
        a = arena(live.factory, config={"submissions": {"per_day": PER_DAY}})
        path = f"/api/v1/phases/{a.phase_id}/submissions"
        with http(live) as c:  # the team stands at its quota edge: 2 of 5 used
            for i in range(ALREADY_USED):
                assert c.post(path, content=f.image_archive(salt=f"pre{i}"),
                              headers=a.member_headers).status_code == 201
        bodies = [f.image_archive(salt=str(i)) for i in range(UPLOADS)]
        answers: list[tuple[int, str]] = []
        lock = threading.Lock()
        barrier = threading.Barrier(UPLOADS)

        def upload(i: int) -> None:
            with httpx.Client(base_url=live.url, timeout=120) as c:
                barrier.wait()
                r = c.post(path, content=bodies[i], headers=a.member_headers)
            code = r.json()["error"]["code"] if r.status_code >= 400 else ""
            with lock:
                answers.append((r.status_code, code))

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(UPLOADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        remaining = PER_DAY - ALREADY_USED
        record_property("answers", {f"{s} {c}".strip(): answers.count((s, c))
                                    for s, c in sorted(set(answers))})
        assert sorted(answers) == ([(201, "")] * remaining
                                   + [(429, "quota_exceeded")] * (UPLOADS - remaining))
        with live.factory() as db:
            assert db.scalar(select(func.count()).select_from(Submission)) == PER_DAY
            assert db.scalar(select(func.count()).select_from(Evaluation)) == PER_DAY
        root = live.storage_root
        assert len(list((root / "submissions").iterdir())) == PER_DAY
        assert list((root / "tmp").iterdir()) == []
        with http(live) as c:
            quota = c.get(f"/api/v1/phases/{a.phase_id}/quota", headers=a.member_headers).json()
        assert quota["per_day_used"] == PER_DAY
