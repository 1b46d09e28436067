"""Error paths: every failure is one clear message on stderr and exit status 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.conftest import EXAMPLE_SPEC, SLUG, World
from tests.cli.helpers import Cli, api, free_port, serve_in_thread, write_dataset


def test_a_bad_token_is_refused_with_a_login_hint(world: World) -> None:
    result = world.cli("whoami", token="sgr_0000000000000000_not-a-real-secret")
    assert result.exit_code == 1
    assert "invalid or revoked API token [invalid_token, HTTP 401]" in result.stderr
    assert "segarena login" in result.stderr
    assert result.stdout == ""


def test_no_token_at_all_says_how_to_get_one(world: World, tmp_path: Path) -> None:
    cli = Cli(world.server.url, tmp_path / "empty.json")
    result = cli("team", "show", "1")
    assert result.exit_code == 1
    assert f"no API token for {world.server.url}" in result.stderr


def test_a_token_saved_for_one_server_is_not_sent_to_another(world: World) -> None:
    other = f"http://127.0.0.1:{free_port()}"
    result = world.cli("whoami", "--url", other)
    assert result.exit_code == 1
    assert f"no API token for {other}" in result.stderr


def test_an_unreachable_server_says_to_start_it(world: World) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = world.cli("challenge", "list", "--url", dead)
    assert result.exit_code == 1
    assert f"cannot reach the segarena server at {dead}: start it with `segarena serve`" \
        in result.stderr


def test_a_bad_spec_names_line_and_field_and_sends_nothing(world: World, tmp_path: Path) -> None:
    text = EXAMPLE_SPEC.read_text()
    text = text.replace("slug: msles-2027", "slug: msles-broken", 1)
    text = text.replace("metrics: [dice, lesion_f1, abs_volume_diff_ml]",
                        "metrics: [dice, hausdorff95]", 1)
    text = text.replace("closes_at: 2027-06-30T23:59:59Z", "closes_at: 2027-06-30 23:59", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    lines = text.splitlines()
    metrics_line = next(i for i, line in enumerate(lines, 1) if "hausdorff95" in line)
    closes_line = next(i for i, line in enumerate(lines, 1) if "2027-06-30 23:59" in line)

    result = world.cli("challenge", "create", "--spec", str(bad), token=world.tokens["ola"])
    assert result.exit_code == 1
    assert (f"{bad}:{metrics_line}: phases[0].config.ranking.metrics: unknown metrics "
            "['hausdorff95']") in result.stderr
    assert f"{bad}:{closes_line}: phases[0].closes_at:" in result.stderr
    assert "nothing was sent to the server" in result.stderr
    with api(world.server.url, world.tokens["ola"]) as client:
        assert client.get("/challenges/msles-broken").status_code == 404


def test_a_spec_with_an_unknown_field_or_a_late_parent_is_refused(world: World,
                                                                  tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("slug: tiny\ntitle: Tiny\npublshed: true\nphases:\n"
                    "  - slug: warm-up\n    title: A\n    opens_at: 2030-01-01T00:00:00Z\n"
                    "    closes_at: 2030-02-01T00:00:00Z\n")
    result = world.cli("challenge", "create", "--spec", str(typo), "--dry-run")
    assert result.exit_code == 1
    assert f"{typo}:3: publshed: Extra inputs are not permitted" in result.stderr

    order = tmp_path / "order.yaml"
    order.write_text("slug: tiny\ntitle: Tiny\nphases:\n"
                     "  - slug: warm-up\n    title: A\n    parent: final\n"
                     "    opens_at: 2030-01-01T00:00:00Z\n    closes_at: 2030-02-01T00:00:00Z\n"
                     "  - slug: final\n    title: B\n"
                     "    opens_at: 2030-01-01T00:00:00Z\n    closes_at: 2030-02-01T00:00:00Z\n")
    result = world.cli("challenge", "create", "--spec", str(order), "--dry-run")
    assert result.exit_code == 1
    assert f"{order}:6: phases[0].parent: parent 'final' must be the slug of a phase listed " \
           "before this one" in result.stderr


def test_creating_an_existing_challenge_surfaces_the_conflict(world: World) -> None:
    result = world.cli("challenge", "create", "--spec", str(EXAMPLE_SPEC),
                       token=world.tokens["ola"])
    assert result.exit_code == 1
    assert "a challenge 'msles-2027' exists already [slug_taken, HTTP 409]" in result.stderr


def _datasets(world: World) -> list[str]:
    with api(world.server.url, world.tokens["ola"]) as client:
        return [d["name"] for d in client.get(f"/challenges/{SLUG}/datasets").json()["items"]]


def test_a_folder_without_the_layout_is_refused_before_upload(world: World,
                                                              tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "case01_flair.nii.gz").write_bytes(b"not really")
    result = world.cli("dataset", "upload", SLUG, str(flat), "--name", "flat",
                       token=world.tokens["ola"])
    assert result.exit_code == 1
    assert f"{flat} has no inputs/ folder" in result.stderr
    assert f"{flat} has no references/ folder" in result.stderr
    assert "nothing was uploaded" in result.stderr
    assert "flat" not in _datasets(world)


def test_a_case_without_reference_and_a_foreign_file_are_listed(world: World,
                                                                tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds")
    (root / "references" / "case02.nii.gz").unlink()
    (root / "inputs" / "case01" / "notes.txt").write_text("hello")
    result = world.cli("dataset", "upload", SLUG, str(root), "--name", "partial",
                       token=world.tokens["ola"])
    assert result.exit_code == 1
    assert "inputs/case01/notes.txt: expected <channel>.nii.gz files only" in result.stderr
    assert "inputs/case02/ has no reference references/case02.nii.gz" in result.stderr
    assert "partial" not in _datasets(world)


def test_a_reference_on_another_grid_is_caught_from_the_headers(world: World,
                                                                tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds")
    other = write_dataset(tmp_path / "other", cases=("case02",), shape=(8, 8, 9))
    shutil.copy(other / "references" / "case02.nii.gz", root / "references" / "case02.nii.gz")
    result = world.cli("dataset", "upload", SLUG, str(root), "--name", "grids",
                       token=world.tokens["ola"])
    assert result.exit_code == 1
    assert "references/case02.nii.gz: not on the grid of inputs/case02/flair.nii.gz" \
        in result.stderr
    assert "grids" not in _datasets(world)


def test_attaching_to_an_unknown_phase_fails_before_uploading(world: World,
                                                              tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds")
    result = world.cli("dataset", "upload", SLUG, str(root), "--name", "orphan", "--attach",
                       "warm-up", token=world.tokens["ola"])
    assert result.exit_code == 1
    assert "has no phase 'warm-up' (phases: sanity-check, final-test)" in result.stderr
    assert "orphan" not in _datasets(world)


def test_a_duplicate_dataset_name_is_refused_before_upload(world: World,
                                                            tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds")
    result = world.cli("dataset", "upload", SLUG, str(root), "--name", "msles-sanity",
                       token=world.tokens["ola"])
    assert result.exit_code == 1
    assert f"challenge '{SLUG}' has a dataset 'msles-sanity' already" in result.stderr
    assert _datasets(world).count("msles-sanity") == 1


def test_a_bad_dataset_name_is_refused_locally(world: World, tmp_path: Path) -> None:
    result = world.cli("dataset", "upload", SLUG, str(tmp_path), "--name", "../etc",
                       token=world.tokens["ola"])
    assert result.exit_code == 1
    assert "invalid --name '../etc'" in result.stderr


def test_participants_cannot_upload_datasets(world: World, tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds")
    result = world.cli("dataset", "upload", SLUG, str(root), "--name", "sneaky",
                       token=world.tokens["alice"])
    assert result.exit_code == 1
    assert "only this challenge's organizers can do that [forbidden, HTTP 403]" in result.stderr
    assert "sneaky" not in _datasets(world)


def test_unknown_phases_are_named_clearly(world: World) -> None:
    alice = world.tokens["alice"]
    by_slug = world.cli("status", f"{SLUG}/warm-up", token=alice)
    assert by_slug.exit_code == 1
    assert f"challenge '{SLUG}' has no phase 'warm-up' (phases: sanity-check, final-test)" \
        in by_slug.stderr
    by_id = world.cli("status", "9999", token=alice)
    assert by_id.exit_code == 1
    assert "no phase with id 9999" in by_id.stderr
    no_challenge = world.cli("leaderboard", "nope/final", token=alice)
    assert no_challenge.exit_code == 1
    assert "no challenge 'nope'" in no_challenge.stderr
    malformed = world.cli("status", "just-a-slug", token=alice)
    assert malformed.exit_code == 1
    assert "PHASE must be 'challenge-slug/phase-slug' or a numeric id" in malformed.stderr


def test_submitting_a_non_image_file_shows_the_server_refusal(world: World,
                                                              tmp_path: Path) -> None:
    archive = tmp_path / "model.tar"
    archive.write_text("this is not a docker save archive\n" * 100)
    result = world.cli("submit", f"{SLUG}/sanity-check", str(archive), "--comment", "v0",
                       token=world.tokens["alice"])
    assert result.exit_code == 1
    assert "error:" in result.stderr and "HTTP 422" in result.stderr
    assert "not a tar archive" in result.stderr
    with api(world.server.url, world.tokens["alice"]) as client:
        phases = client.get(f"/challenges/{SLUG}/phases").json()
        sanity = next(p for p in phases if p["slug"] == "sanity-check")
        assert client.get(f"/phases/{sanity['id']}/submissions").json()["items"] == []
        assert client.get(f"/phases/{sanity['id']}/quota").json()["total_used"] == 0


def test_submitting_without_a_team_or_a_file(world: World, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar"
    archive.write_bytes(b"\0" * 1024)
    outsider = world.cli("signup", "dora", "--json", "--no-save")
    token = json.loads(outsider.stdout)["token"]
    no_team = world.cli("submit", f"{SLUG}/sanity-check", str(archive), token=token)
    assert no_team.exit_code == 1
    assert "[no_team, HTTP 403]" in no_team.stderr
    assert "segarena team create" in no_team.stderr
    missing = world.cli("submit", f"{SLUG}/sanity-check", str(tmp_path / "nope.tar"),
                        token=token)
    assert missing.exit_code == 1
    assert "is not a file" in missing.stderr


def test_organizers_cannot_join_their_own_challenge(world: World) -> None:
    result = world.cli("team", "create", SLUG, "inside-job", token=world.tokens["ola"])
    assert result.exit_code == 1
    assert "[conflict_of_interest, HTTP 403]" in result.stderr


def test_participants_cannot_create_organizers(world: World) -> None:
    result = world.cli("user", "create", "mallory", "--role", "admin", "--no-save",
                       token=world.tokens["alice"])
    assert result.exit_code == 1
    assert "only an admin can create organizer or admin accounts" in result.stderr
    with api(world.server.url, world.tokens["admin"]) as client:
        assert "mallory" not in [u["username"] for u in client.get("/admin/users").json()]


def test_submitting_to_a_closed_phase_fails_before_uploading(world: World,
                                                            tmp_path: Path) -> None:
    with api(world.server.url, world.tokens["ola"]) as client:
        phases = client.get(f"/challenges/{SLUG}/phases").json()
        final = next(p for p in phases if p["slug"] == "final-test")
        client.patch(f"/phases/{final['id']}", json={
            "opens_at": "2020-01-01T00:00:00Z", "closes_at": "2020-02-01T00:00:00Z",
        }).raise_for_status()
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"\0" * 1024)
    result = world.cli("submit", f"{SLUG}/final-test", str(archive), token=world.tokens["bob"])
    assert result.exit_code == 1
    assert (f"phase {SLUG}/final-test is closed (opens 2020-01-01 00:00 UTC, closes "
            "2020-02-01 00:00 UTC); nothing was uploaded") in result.stderr
    with api(world.server.url, world.tokens["bob"]) as client:
        assert client.get(f"/phases/{final['id']}/submissions").json()["items"] == []


def test_a_server_that_is_not_segarena_is_named(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    other = FastAPI()
    other.get("/api/v1/challenges")(lambda: HTMLResponse("<html>hello</html>"))
    with serve_in_thread(other) as url:
        result = Cli(url, tmp_path / "cli.json")("challenge", "list")
    assert result.exit_code == 1
    assert f"the server at {url} did not answer with JSON (GET /api/v1/challenges); is it " \
           "segarena?" in result.stderr
