"""Archives, terminals and HTTP edges: what a hostile upload, team name, container or HTTP
header can do to the platform, to other people's terminals and to their browsers."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.teams import service as teams
from evaluator.sandbox.archive import ArchiveError, inspect_archive
from tests import factories as f
from tests.reliability.hostile_archives import (
    LAYER,
    config_with,
    gzip_bomb,
    image_archive_from,
    nested,
)


@dataclass
class Team:
    phase_id: int
    headers: dict[str, str]


@pytest.fixture
def team(db: Session) -> Team:
    """An open phase of a published challenge and a participant with a team in it."""
    admin = f.admin_account(db)
    org = f.account(db, "org", f.Role.organizer, admin.user)
    f.challenge(db, org.user, "alpha")
    phase = f.phase(db, org.user, "alpha")
    member = f.account(db, "member")
    teams.create(db=db, user=member.user, slug="alpha", name="Team")
    return Team(phase.id, member.headers)


def _submit(client: TestClient, team: Team, body: bytes) -> tuple[int, str]:
    response = client.post(f"/api/v1/phases/{team.phase_id}/submissions", content=body,
                           headers=team.headers)
    code = response.json()["error"]["code"] if response.status_code >= 400 else ""
    return response.status_code, code


# -- item 8: malformed image metadata -----------------------------------------------------------

MALFORMED = {
    "config's 'config' is a string": (image_archive_from(config_with(config="x")), "bad_config"),
    "config's Env is not a list": (image_archive_from(config_with(config={"Env": "PATH"})),
                                   "bad_config"),
    "config nested 100,000 levels": (image_archive_from(nested(100_000)), "bad_config"),
    "manifest nested 100,000 levels": (image_archive_from(config_with(),
                                                          manifest=nested(100_000)),
                                       "bad_manifest"),
    "integer of 5,000 digits": (image_archive_from(b'{"os": ' + b"9" * 5000 + b"}"),
                                "bad_config"),
}


@pytest.mark.parametrize("attack", sorted(MALFORMED))
def test_item8_malformed_image_metadata_is_a_422_with_a_stable_code(
        client: TestClient, team: Team, attack: str) -> None:
    """A config whose `config` is "x", or JSON nested 100,000 levels: 422 with a code, not 500."""
    body, code = MALFORMED[attack]
    assert _submit(client, team, body) == (422, code)


# -- item 11: bounded inflation ------------------------------------------------------------------


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the bytes gzip inflates while an archive is inspected."""
    total = [0]
    real = gzip.GzipFile.read

    def counting(self: gzip.GzipFile, size: int = -1) -> bytes:
        data = real(self, size)
        total[0] += len(data)
        return data

    monkeypatch.setattr(gzip.GzipFile, "read", counting)
    yield total


BOMBS = {
    # A top-level ``layer.tar`` is never written by docker save: stop at its header.
    "member that cannot belong to an image": (gzip_bomb(name="layer.tar", declared=1 << 30),
                                              "not_an_image"),
    # A legitimate layer name declaring 1 TiB: past the budget before any of it is inflated.
    "layer declaring 1 TiB": (gzip_bomb(name=LAYER), "too_large"),
    # tarfile would read a 64 MiB pax header into memory in one piece.
    "pax header of 64 MiB": (gzip_bomb(name="pax", declared=64 << 20,
                                       header_type=tarfile.XHDTYPE), "metadata_too_large"),
}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_item11_gzip_bomb_is_refused_before_it_is_inflated(
        tmp_path: Path, inflated: list[int], bomb: str) -> None:
    """An 8 MB-class gzip bomb: refused at its first header, having inflated under 1 MiB."""
    body, code = BOMBS[bomb]
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(body)
    with pytest.raises(ArchiveError) as refused:
        inspect_archive(path)
    assert refused.value.code == code
    assert inflated[0] < 1 << 20


def test_item11_inflation_budget_follows_max_submission_bytes(
        client: TestClient, app: FastAPI, team: Team) -> None:
    """A 1 MiB upload limit: an archive inflating to 8 MiB is refused (too_large), 4x is not."""
    app.state.settings = app.state.settings.model_copy(update={"max_submission_bytes": 1 << 20})
    big = image_archive_from(config_with(config={"User": "1000"}), layer=bytes(8 << 20), gz=True)
    small = image_archive_from(config_with(config={"User": "1000"}), layer=bytes(3 << 20),
                               gz=True)
    assert len(big) < 1 << 20 and len(small) < 1 << 20
    assert _submit(client, team, big) == (422, "too_large")
    assert _submit(client, team, small) == (201, "")


def test_item11_sparse_members_are_refused_before_their_map_is_read(tmp_path: Path) -> None:
    """A GNU sparse member (whose map tarfile grows without bound): refused as unsupported."""
    info = tarfile.TarInfo(LAYER)
    info.type = tarfile.GNUTYPE_SPARSE
    buf = io.BytesIO()
    buf.write(info.tobuf(format=tarfile.GNU_FORMAT))
    buf.write(bytes(4 * tarfile.BLOCKSIZE))
    path = tmp_path / "sparse.tar"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ArchiveError) as refused:
        inspect_archive(path)
    assert refused.value.code == "unsupported_member"
