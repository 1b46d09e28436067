"""The participant pages through the browser's eyes: team forms (with CSRF), the submit page
and its submissions table, the no-JS upload, a submission's results as ``visibility`` allows
them, and the how-to page. Both databases (the ``client``/``db`` fixtures)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.core.db import utcnow
from challenge.evaluations.models import EvalState
from challenge.submissions.models import Submission
from challenge.submissions.service import next_slot_at
from challenge.teams.models import Team, TeamMember
from tests import factories as f
from tests.challenge import visibility_world
from tests.web.helpers import csrf_token, sign_in
from tests.web.participant_world import act_as, add_run

SLUG = "ms-cup"
TEAM = f"/challenges/{SLUG}/team"


def _challenge(db: Session) -> None:
    organizer = f.account(db, "cup-org", f.Role.organizer, f.admin_account(db).user)
    f.challenge(db, organizer.user, SLUG)
    f.phase(db, organizer.user, SLUG, "final", config={"submissions": {"per_day": 1}})


def _invite_code(html: str) -> str:
    found = re.search(r'<code class="invite">([^<]+)</code>', html)
    assert found, "no invite code on the page"
    return found.group(1)


def _team_of(db: Session, username: str) -> Team | None:
    db.expire_all()
    return db.scalar(select(Team).join(TeamMember).join(f.User, f.User.id == TeamMember.user_id)
                     .where(f.User.username == username))


def test_team_forms_create_join_rotate_remove_and_leave(client: TestClient, db: Session) -> None:
    _challenge(db)
    alice, bob = f.account(db, "alice").user, f.account(db, "bob").user
    sign_in(client, db, alice)
    page = client.get(TEAM)
    assert page.status_code == 200
    for text in ("Create a team", "Team name", "Create team", "Join a team", "Invite code",
                 "Join team"):
        assert text in page.text
    made = client.post(f"{TEAM}/create", data={"name": "Lesion Hunters",
                                               "csrf_token": csrf_token(client)},
                       follow_redirects=False)
    assert (made.status_code, made.headers["location"]) == (303, TEAM)
    code = _invite_code(client.get(TEAM).text)

    act_as(client, db, "anonymous")
    sign_in(client, db, bob)
    joined = client.post(f"{TEAM}/join", data={"invite_code": code,
                                               "csrf_token": csrf_token(client)},
                         follow_redirects=False)
    assert joined.status_code == 303
    assert _team_of(db, "bob").name == "Lesion Hunters"
    assert "Rotate invite code" not in client.get(TEAM).text  # bob is not the captain

    client.cookies.clear()
    sign_in(client, db, alice)
    token = csrf_token(client)
    assert client.post(f"{TEAM}/invite", data={"csrf_token": token},
                       follow_redirects=False).status_code == 303
    assert _invite_code(client.get(TEAM).text) != code
    removed = client.post(f"{TEAM}/members/{bob.id}/remove", data={"csrf_token": token},
                          follow_redirects=False)
    assert removed.status_code == 303
    assert _team_of(db, "bob") is None
    left = client.post(f"{TEAM}/leave", data={"csrf_token": token}, follow_redirects=False)
    assert left.status_code == 303
    assert _team_of(db, "alice") is None
    assert "Create a team" in client.get(TEAM).text


def test_a_post_without_a_valid_csrf_token_is_403_and_changes_nothing(
        client: TestClient, db: Session) -> None:
    _challenge(db)
    sign_in(client, db, f.account(db, "alice").user)
    csrf_token(client)
    for data in ({"name": "Sneaky"}, {"name": "Sneaky", "csrf_token": "0" * 64}):
        refused = client.post(f"{TEAM}/create", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert "csrf_failed" in refused.text or "expired" in refused.text
    assert db.scalar(select(func.count()).select_from(Team)) == 0


def test_a_bad_team_name_is_shown_inline_with_the_typed_value_kept(
        client: TestClient, db: Session) -> None:
    _challenge(db)
    sign_in(client, db, f.account(db, "alice").user)
    too_long = "n" * 101
    answer = client.post(f"{TEAM}/create", data={"name": too_long,
                                                 "csrf_token": csrf_token(client)})
    assert answer.status_code == 422
    assert f'value="{too_long}"' in answer.text and 'aria-invalid="true"' in answer.text
    answer = client.post(f"{TEAM}/join", data={"invite_code": "no-such-code",
                                               "csrf_token": csrf_token(client)})
    assert answer.status_code == 404
    assert "no team of this challenge has that invite code" in answer.text
    assert 'value="no-such-code"' in answer.text
    assert db.scalar(select(func.count()).select_from(Team)) == 0


def test_after_the_first_submission_the_captain_sees_the_services_refusal(
        client: TestClient, db: Session) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS["per-case"])
    bob = f.account(db, "vis-bob").user
    act_as(client, db, "member")
    code = _invite_code(client.get(f"/challenges/{world.ids['slug']}/team").text)
    db.add(TeamMember(team_id=world.ids["team_id"], challenge_id=world.phase.challenge_id,
                      user_id=bob.id))
    db.commit()
    answer = client.post(f"/challenges/{world.ids['slug']}/team/members/{bob.id}/remove",
                         data={"csrf_token": csrf_token(client)})
    assert answer.status_code == 409
    assert "has submitted already" in answer.text and code in answer.text
    assert _team_of(db, "vis-bob") is not None


def test_an_outsider_sees_neither_another_teams_invite_code_nor_its_submission(
        client: TestClient, db: Session) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS["per-case"])
    act_as(client, db, "member")
    alpha_code = _invite_code(client.get(f"/challenges/{world.ids['slug']}/team").text)
    for role in ("other", "outsider"):
        act_as(client, db, role)
        team_page = client.get(f"/challenges/{world.ids['slug']}/team")
        assert team_page.status_code == 200 and alpha_code not in team_page.text
        assert client.get(f"/submissions/{world.ids['submission_id']}").status_code == 404
    act_as(client, db, "other")
    fragment = client.get(f"{visibility_world.PAGE}/submissions").text
    assert f"/submissions/{world.ids['submission_id']}\"" not in fragment
    assert f"/submissions/{world.ids['other_submission_id']}\"" in fragment


def test_the_submissions_fragment_shows_state_queue_position_and_cases_done(
        client: TestClient, db: Session) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS["per-case"])
    act_as(client, db, "member")
    fragment_url = f"{visibility_world.PAGE}/submissions"
    done = client.get(fragment_url).text
    assert "succeeded" in done and 'hx-trigger' not in done  # all terminal: no polling
    queued = add_run(db, world, EvalState.queued)
    running = add_run(db, world, EvalState.running, done=2, total=4)
    live = client.get(fragment_url)
    assert live.status_code == 200 and 'id="submissions"' in live.text
    assert 'hx-trigger="every 2s"' in live.text
    row = {s: live.text.split(f'href="/submissions/{s.id}"')[1].split("</tr>")[0]
           for s in (queued, running)}
    assert ">queued<" in row[queued] and "position 1 in the queue" in row[queued]
    assert ">running<" in row[running] and "2 of 4 cases" in row[running]
    page = client.get(f"{visibility_world.PAGE}/submit")
    assert page.status_code == 200 and 'id="submissions"' in page.text
    assert '<script src="/static/vendor/htmx.min.js"></script>' in page.text
    assert ">Refresh</a>" in page.text


REFERENCE_TEXTS = ("n_ref", "ref_volume_ml", "empty_reference", "4.568", "4.56789", "98765",
                   "87654", "11111", ">tp<", ">fn<")


@pytest.mark.parametrize("setting", ["per-case", "aggregates", "per-case+hidden",
                                     "per-case+closed"])
def test_per_case_scores_are_shown_iff_published_and_never_a_reference_field(
        client: TestClient, db: Session, setting: str) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS[setting])
    act_as(client, db, "member")
    html = client.get(f"/submissions/{world.ids['submission_id']}").text
    published = setting in ("per-case", "per-case+closed")
    assert ("Per-case results of evaluation" in html) is published
    hidden = setting == "per-case+hidden"
    # Alpha's mean Dice (0.8125 + 0.6875 + 0) / 3 = 0.500; its c1 Dice 0.8125 -> 0.812.
    assert ("mean dice: 0.500" in html) is not hidden
    assert (">0.812<" in html) is published
    if published:  # AVD % is reference-conditional: never per case, even when published
        assert 'class="num">avd_pct<' not in html and 'class="num">dice<' in html
    if hidden:
        assert "hidden until the phase closes" in html
    for text in REFERENCE_TEXTS:
        assert text not in html, (setting, text)


def test_the_no_js_upload_creates_a_charged_submission_and_respects_the_quota(
        client: TestClient, db: Session) -> None:
    _challenge(db)  # per_day = 1
    alice = f.account(db, "alice").user
    sign_in(client, db, alice)
    client.post(f"{TEAM}/create", data={"name": "Uploaders", "csrf_token": csrf_token(client)})
    submit = f"/challenges/{SLUG}/phases/final/submit"
    page = client.get(submit)
    assert "1 of 1 (0 used)" in page.text and 'enctype="multipart/form-data"' in page.text
    sent = client.post(submit, data={"csrf_token": csrf_token(client)},
                       files={"file": ("algo.tar", f.image_archive(), "application/x-tar")},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    db.expire_all()
    made = db.scalars(select(Submission)).all()
    assert len(made) == 1 and made[0].charged and made[0].submitter_id == alice.id
    assert sent.headers["location"] == f"/submissions/{made[0].id}"
    assert "queued" in client.get(sent.headers["location"]).text
    again = client.post(submit, data={"csrf_token": csrf_token(client)},
                        files={"file": ("algo.tar", f.image_archive(salt="2"),
                                           "application/x-tar")})
    assert again.status_code == 429 and "submissions of the last 24 hours" in again.text
    assert db.scalar(select(func.count()).select_from(Submission)) == 1
    slot = next_slot_at(db, made[0].phase_id, made[0].team_id, 1)
    assert slot == made[0].created_at + timedelta(hours=24)
    assert "Next 24-hour slot frees" in again.text


def test_a_root_image_is_refused_on_the_page_and_not_charged(
        client: TestClient, db: Session) -> None:
    _challenge(db)
    sign_in(client, db, f.account(db, "alice").user)
    client.post(f"{TEAM}/create", data={"name": "Rooters", "csrf_token": csrf_token(client)})
    answer = client.post(f"/challenges/{SLUG}/phases/final/submit",
                         data={"csrf_token": csrf_token(client)},
                         files={"file": ("algo.tar", f.image_archive(user="root"),
                                            "application/x-tar")})
    assert answer.status_code == 422 and "non-root USER" in answer.text
    assert db.scalar(select(func.count()).select_from(Submission)) == 0


def test_the_no_js_upload_is_bounded_by_the_archive_limit_not_the_small_body_cap(
        client: TestClient, db: Session, settings) -> None:
    _challenge(db)
    sign_in(client, db, f.account(db, "alice").user)
    client.post(f"{TEAM}/create", data={"name": "Big", "csrf_token": csrf_token(client)})
    junk = b"\0" * (settings.max_body_bytes + 1024)  # past the cap on ordinary bodies
    answer = client.post(f"/challenges/{SLUG}/phases/final/submit",
                         data={"csrf_token": csrf_token(client)},
                         files={"file": ("junk.tar", junk, "application/x-tar")})
    assert answer.status_code == 422, answer.text[-300:]  # read and refused as an archive
    client.app.state.settings.max_submission_bytes = 1024  # type: ignore[attr-defined]
    answer = client.post(f"/challenges/{SLUG}/phases/final/submit",
                         data={"csrf_token": csrf_token(client)},
                         files={"file": ("junk.tar", junk, "application/x-tar")})
    assert answer.status_code == 413
    assert db.scalar(select(func.count()).select_from(Submission)) == 0


def test_the_how_to_page_states_the_phases_own_limits(client: TestClient, db: Session) -> None:
    organizer = f.account(db, "cup-org", f.Role.organizer, f.admin_account(db).user)
    f.challenge(db, organizer.user, SLUG)
    f.phase(db, organizer.user, SLUG, "final", opens_at=utcnow() - timedelta(days=1),
            config={"channels": ["flair", "t1"], "run_mode": "batch",
                    "limits": {"wall_time_per_submission_s": 1234, "memory_mb": 3072,
                               "cpus": 2.5, "pids": 77, "output_mb": 33, "gpu": True}})
    html = client.get(f"/challenges/{SLUG}/phases/final/how-to").text
    for text in ("1234 s", "3072 MiB", ">2.5<", ">77<", "33 MiB", "one GPU",
                 "one container for all cases", "/input/&lt;case&gt;/t1.nii.gz",
                 "/output/&lt;case&gt;.nii.gz", "--phase-config phase.yaml",
                 "memory_mb: 3072", f"segarena submit {SLUG}/final my-algo.tar"):
        assert text in html, text


def test_the_public_challenge_page_links_to_take_part_without_user_data(
        client: TestClient, db: Session) -> None:
    _challenge(db)
    page = client.get(f"/challenges/{SLUG}")
    assert f'href="/challenges/{SLUG}/team">Take part</a>' in page.text
    assert "set-cookie" not in page.headers
