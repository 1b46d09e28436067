"""The organizer and participant set-up, driven through the CLI against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import SLUG, World
from tests.cli.helpers import Cli, api, mode_of, token_in


def test_init_prints_the_admin_token_once_and_saves_it_private(world: World) -> None:
    init = world.steps["init"]
    token = world.tokens["admin"]
    assert "created admin admin" in init.stdout
    assert "shown only this once" in init.stdout
    saved = world.cli.saved()
    assert saved["default_url"] == world.server.url
    assert saved["servers"][world.server.url]["token"] == token
    assert mode_of(world.cli.config) == 0o600
    with api(world.server.url, token) as client:
        assert client.get("/me").json()["role"] == "admin"


def test_init_again_keeps_the_existing_admin_and_prints_no_token(world: World) -> None:
    again = world.steps["init_again"]
    assert "an admin account exists already" in again.output
    assert "sgr_" not in again.output
    assert world.cli.saved()["servers"][world.server.url]["token"] == world.tokens["admin"]


def test_whoami_uses_the_saved_token_and_the_env_token(world: World) -> None:
    saved = world.cli("whoami")
    assert saved.exit_code == 0, saved.output
    assert "admin (admin" in saved.stdout
    env = world.cli("whoami", "--json", token=world.tokens["alice"])
    assert env.exit_code == 0, env.output
    data = json.loads(env.stdout)
    assert (data["username"], data["role"], data["url"]) == ("alice", "participant",
                                                             world.server.url)


def test_login_checks_the_token_and_saves_it_for_that_url(world: World, tmp_path: Path) -> None:
    cli = Cli(world.server.url, tmp_path / "cli.json")
    result = cli("login", "--url", world.server.url + "/", "--token", world.tokens["bob"])
    assert result.exit_code == 0, result.output
    assert "logged in" in result.stdout and "bob" in result.stdout
    assert cli.saved()["servers"][world.server.url]["token"] == world.tokens["bob"]
    assert mode_of(cli.config) == 0o600
    whoami = cli("whoami", env={"SEGARENA_URL": None})
    assert whoami.exit_code == 0, whoami.output
    assert "bob (participant" in whoami.stdout


def test_user_create_makes_an_organizer_account(world: World) -> None:
    assert "created organizer ola" in world.steps["user_create"].stdout
    assert "not saved" in world.steps["user_create"].output
    with api(world.server.url, world.tokens["admin"]) as client:
        users = {u["username"]: u["role"] for u in client.get("/admin/users").json()}
    assert users["ola"] == "organizer"
    assert world.cli.saved()["servers"][world.server.url]["token"] == world.tokens["admin"]


def test_challenge_create_from_the_example_spec(world: World) -> None:
    result = world.steps["challenge_create"]
    assert f"created challenge {SLUG} (not published); new phases: sanity-check" \
        in result.stdout
    assert "dataset 'msles-sanity' is not uploaded yet" in result.output
    with api(world.server.url, world.tokens["ola"]) as client:
        challenge = client.get(f"/challenges/{SLUG}").json()
        phases = {p["slug"]: p for p in client.get(f"/challenges/{SLUG}/phases").json()}
    assert challenge["title"] == "MS lesion segmentation 2027 (FLAIR)"
    assert set(phases) == {"sanity-check", "final-test"}
    final = phases["final-test"]
    assert final["parent_phase_id"] == phases["sanity-check"]["id"]
    assert final["hide_scores_until_close"] is True
    assert final["config"]["ranking"]["method"] == "rank_then_aggregate"
    assert final["config"]["submissions"] == {"per_day": 1, "total": 3, "counts": "selected"}
    assert phases["sanity-check"]["config"]["metrics"] == "msseg"
    assert phases["sanity-check"]["config"]["limits"]["memory_mb"] == 8192


def test_publish_makes_the_challenge_public(world: World) -> None:
    assert f"challenge {SLUG} is published" in world.steps["publish"].stdout
    with api(world.server.url) as anonymous:
        slugs = [c["slug"] for c in anonymous.get("/challenges").json()["items"]]
    assert SLUG in slugs


def test_challenge_list_and_show(world: World) -> None:
    listed = world.cli("challenge", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert SLUG in [c["slug"] for c in json.loads(listed.stdout)]
    shown = world.cli("challenge", "show", SLUG, token=world.tokens["ola"])
    assert shown.exit_code == 0, shown.output
    assert "MS lesion segmentation 2027" in shown.stdout
    assert "sanity-check" in shown.stdout and "final-test" in shown.stdout
    assert "rank_then_aggregate" in shown.stdout
    assert "msles-sanity (2 cases)" in shown.stdout


def test_signup_prints_a_working_participant_token(world: World) -> None:
    assert "created participant alice" in world.steps["signup_alice"].stdout
    with api(world.server.url, world.tokens["alice"]) as client:
        me = client.get("/me").json()
    assert (me["username"], me["role"]) == ("alice", "participant")


def test_team_create_and_join_with_the_invite_code(world: World) -> None:
    team = json.loads(world.steps["team_create"].stdout)
    assert team["name"] == "lesion-hunters" and team["members"] == ["alice"]
    assert "joined team lesion-hunters" in world.steps["team_join"].stdout
    with api(world.server.url, world.tokens["bob"]) as client:
        server_team = client.get(f"/teams/{team['id']}").json()
    assert server_team["members"] == ["alice", "bob"]
    shown = world.cli("team", "show", str(team["id"]), token=world.tokens["alice"])
    assert shown.exit_code == 0, shown.output
    assert team["invite_code"] in shown.stdout and "alice, bob" in shown.stdout


def test_team_leave_removes_the_member(world: World) -> None:
    cli, server = world.cli, world.server
    carol = token_in(cli("signup", "carol", "--no-save").stdout)
    created = json.loads(cli("team", "create", SLUG, "solo", "--json", token=carol).stdout)
    left = cli("team", "leave", str(created["id"]), token=carol)
    assert left.exit_code == 0, left.output
    assert "left team solo (0 member(s) left)" in left.stdout
    with api(server.url, carol) as client:
        assert client.get(f"/teams/{created['id']}").status_code == 404


def test_dataset_upload_checks_streams_and_attaches(world: World) -> None:
    result = world.steps["dataset_upload"]
    assert "uploaded dataset msles-sanity" in result.stdout
    assert "2 cases, channels flair" in result.stdout
    assert "attached to phase sanity-check" in result.stdout
    assert "attached to phase final-test" in result.stdout
    with api(world.server.url, world.tokens["ola"]) as client:
        datasets = client.get(f"/challenges/{SLUG}/datasets").json()["items"]
        phases = client.get(f"/challenges/{SLUG}/phases").json()
    assert [(d["name"], d["n_cases"], d["channels"]) for d in datasets] == [
        ("msles-sanity", 2, ["flair"])]
    assert {p["slug"]: p["dataset"]["id"] for p in phases} == {
        "sanity-check": datasets[0]["id"], "final-test": datasets[0]["id"]}
    listed = world.cli("dataset", "list", SLUG, token=world.tokens["ola"])
    assert listed.exit_code == 0, listed.output
    assert "msles-sanity" in listed.stdout and datasets[0]["checksum"][:16] in listed.stdout


def test_status_of_a_phase_without_submissions(world: World) -> None:
    table = world.cli("status", f"{SLUG}/sanity-check", token=world.tokens["alice"])
    assert table.exit_code == 0, table.output
    assert f"no submissions yet for {SLUG}/sanity-check" in table.output
    as_json = world.cli("status", f"{SLUG}/sanity-check", "--json", "--watch",
                        token=world.tokens["alice"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == []


def test_update_adds_new_phases_with_an_uploaded_dataset(world: World, tmp_path: Path) -> None:
    ola = world.tokens["ola"]
    first = tmp_path / "first.yaml"
    first.write_text("slug: addon\ntitle: Add-on\npublished: true\nphases:\n"
                     "  - slug: warm-up\n    title: Warm-up\n"
                     "    opens_at: 2030-01-01T00:00:00Z\n    closes_at: 2030-02-01T00:00:00Z\n")
    created = world.cli("challenge", "create", "--spec", str(first), token=ola)
    assert created.exit_code == 0, created.output
    assert world.dataset_dir is not None
    upload = world.cli("dataset", "upload", "addon", str(world.dataset_dir), "--name", "hidden",
                       token=ola)
    assert upload.exit_code == 0, upload.output
    second = tmp_path / "second.yaml"
    second.write_text(first.read_text() + "  - slug: test\n    title: Test\n"
                      "    parent: warm-up\n    dataset: hidden\n"
                      "    opens_at: 2030-02-01T00:00:00Z\n    closes_at: 2030-03-01T00:00:00Z\n")
    refused = world.cli("challenge", "create", "--spec", str(second), token=ola)
    assert refused.exit_code == 1
    assert "a challenge 'addon' exists already [slug_taken, HTTP 409]" in refused.stderr

    updated = world.cli("challenge", "create", "--spec", str(second), "--update", token=ola)
    assert updated.exit_code == 0, updated.output
    assert "phase warm-up exists already; left unchanged" in updated.stderr
    assert "updated challenge addon (published); new phases: test" in updated.stdout
    with api(world.server.url, ola) as client:
        phases = {p["slug"]: p for p in client.get("/challenges/addon/phases").json()}
    assert phases["test"]["dataset"]["name"] == "hidden"
    assert phases["test"]["parent_phase_id"] == phases["warm-up"]["id"]
    assert phases["warm-up"]["dataset"] is None
