"""The real tus-js-client (Node build, from ``node_modules``) against a live server: an
upload killed at about 40 % resumes where the server stopped, never from byte 0, and ends as
a submission. And the vendored scripts: served with a JavaScript content type, pinned by
``package-lock.json`` to exactly the versions ``package.json`` names."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.evaluations.dispatch import NoDispatcher
from challenge.submissions.models import Submission
from tests import factories as f
from tests.cli.helpers import serve_in_thread
from tests.web.helpers import team_member_of_open_phase

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "web" / "tus_node_upload.mjs"
FILE_BYTES = 30 * 1024 * 1024


@dataclass
class PatchLog:
    """What the server received: the ``Upload-Offset`` of every PATCH and its body bytes."""

    offsets: list[int] = field(default_factory=list)
    body_bytes: int = 0


def patch_logger(app: ASGIApp, log: PatchLog) -> ASGIApp:
    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "PATCH":
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        log.offsets.append(int(headers.get(b"upload-offset", b"-1")))

        async def counted() -> Any:
            message = await receive()
            log.body_bytes += len(message.get("body", b""))
            return message

        await app(scope, counted, send)

    return logged


def big_image_archive(size: int) -> bytes:
    """A valid ``docker save`` archive (one non-root linux/amd64 image) of about ``size``
    bytes: its one layer holds ``size`` random (incompressible) bytes."""
    small = f.image_archive()
    with tarfile.open(fileobj=io.BytesIO(small)) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("filler.bin")
        info.size = size
        t.addfile(info, io.BytesIO(os.urandom(size)))
    layer_bytes = layer.getvalue()
    config = json.loads(next(v for k, v in members.items() if k.endswith(".json")
                             and k != "manifest.json"))
    config["rootfs"]["diff_ids"] = ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = hashlib.sha256(layer_bytes).hexdigest() + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["big:latest"],
                            "Layers": [layer_name]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in ((config_name, config_bytes), (layer_name, layer_bytes),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class Live:
    base: str
    token: str
    phase_id: int
    log: PatchLog
    database_url: str


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    url = f"sqlite:///{tmp_path / 'segarena.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as db:
        member, phase = team_member_of_open_phase(db)
        token, phase_id = member.token, phase.id
    settings = Settings(environment="test", database_url=url, storage_root=tmp_path / "storage",
                        worker_mode="off")
    log = PatchLog()
    app = create_app(settings, dispatcher=NoDispatcher())
    with serve_in_thread(patch_logger(app, log)) as base:
        yield Live(base, token, phase_id, log, url)
    engine.dispose()


def run_node(live: Live, file: Path, store: Path, die_at: str | None = None) -> list[dict]:
    args = ["node", str(SCRIPT), live.base, str(file), str(store), str(live.phase_id)]
    done = subprocess.run([*args, *([die_at] if die_at else [])], cwd=ROOT, timeout=300,
                          capture_output=True, text=True,
                          env={**os.environ, "SEGARENA_TOKEN": live.token})
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if die_at is None:
        assert done.returncode == 0, done.stderr + done.stdout
    return events


def test_a_killed_upload_resumes_where_the_server_stopped_and_becomes_a_submission(
        live: Live, tmp_path: Path) -> None:
    body = big_image_archive(FILE_BYTES)
    file = tmp_path / "algo.tar"
    file.write_bytes(body)
    store = tmp_path / "tus-urls.json"

    first = run_node(live, file, store, die_at="0.4")
    sent = max(e["sent"] for e in first if e["event"] == "progress")
    assert 0.4 * len(body) <= sent < len(body)
    assert not any(e["event"] == "success" for e in first)
    patches_before = len(live.log.offsets)

    second = run_node(live, file, store)
    resumed = [e for e in second if e["event"] == "resuming"]
    assert len(resumed) == 1
    resumed_offsets = live.log.offsets[patches_before:]
    assert resumed_offsets and min(resumed_offsets) > 0.3 * len(body)
    assert live.log.offsets.count(0) == 1  # the first run's first PATCH only
    assert live.log.body_bytes < 1.5 * len(body)

    success = next(e for e in second if e["event"] == "success")
    assert success["url"] == resumed[0]["url"]
    result = next(e for e in second if e["event"] == "result")["result"]
    assert result["state"] == "complete", result
    engine = make_engine(live.database_url)
    with session_factory(engine)() as db:
        submission = db.get(Submission, int(result["location"].rsplit("/", 1)[1]))
        assert submission is not None
        assert submission.archive_bytes == len(body)
        assert submission.archive_sha256 == hashlib.sha256(body).hexdigest()
    engine.dispose()


def test_the_three_vendor_scripts_are_served_as_javascript(client: TestClient) -> None:
    for name, marker in (("htmx.min.js", b"htmx"), ("tus.min.js", b"tus"),
                         ("axe.min.js", b"axe")):
        answer = client.get(f"/static/vendor/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("text/javascript")
        assert answer.headers["cache-control"] == "public, max-age=86400"
        assert marker in answer.content[:5000] or marker in answer.content
    assert client.get("/static/vendor/package.json").status_code == 404
    assert client.get("/static/vendor/..%2Fpackage.json").status_code == 404
    assert client.get("/static/upload.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/other.js").status_code == 404


def test_missing_node_modules_is_a_503_saying_to_run_provision(settings: Settings,
                                                               tmp_path: Path) -> None:
    settings.assets_dir = tmp_path / "nothing-here"
    with TestClient(create_app(settings, dispatcher=NoDispatcher())) as client:
        answer = client.get("/static/vendor/htmx.min.js")
    assert answer.status_code == 503
    assert "run scripts/provision.sh" in answer.text


def test_package_lock_pins_exactly_the_versions_package_json_names() -> None:
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert set(wanted) == {"htmx.org", "tus-js-client", "axe-core"}
    assert wanted["htmx.org"].startswith("2.") and wanted["tus-js-client"].startswith("4.")
    assert wanted["axe-core"].startswith("4.")
    for name, version in wanted.items():
        assert version[0].isdigit() and not any(c in version for c in "^~<>=* "), version
        assert lock["packages"][""]["dependencies"][name] == version
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    text = (ROOT / "package-lock.json").read_text()
    assert '"resolved"' not in text and "registry" not in text
