"""The organizers' pages (``/organize``) through a real app and database: each action is the
API's service, so the rows and audit events it leaves are the ones checked here."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.audit.models import AuditEvent
from challenge.challenges.models import Challenge
from challenge.challenges.spec import SpecError, load_spec
from challenge.core.db import utcnow
from challenge.evaluations.models import EvalState, Evaluation
from challenge.phases import service as phases
from challenge.phases.models import Phase
from challenge.phases.schemas import PhaseUpdate
from challenge.submissions.models import Submission
from tests import factories
from tests.web.helpers import csrf_token, sign_in

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "challenge.yaml"


def organizer(db: Session, client: TestClient, name: str = "olga") -> factories.Account:
    admin = factories.admin_account(db).user
    account = factories.account(db, name, Role.organizer, admin=admin)
    sign_in(client, db, account.user)
    return account


def post(client: TestClient, url: str, data: dict[str, str] | None = None, **kw: object):
    return client.post(url, data={"csrf_token": csrf_token(client), **(data or {})},
                       follow_redirects=False, **kw)  # type: ignore[arg-type]


def audit_actions(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_example_spec_creates_the_challenge_and_its_phases(db: Session,
                                                                client: TestClient) -> None:
    organizer(db, client)
    answer = post(client, "/organize/new", {"spec": EXAMPLE.read_text()})
    assert answer.status_code == 303 and answer.headers["location"] == "/organize/msles-2027"
    challenge = db.scalar(select(Challenge).where(Challenge.slug == "msles-2027"))
    assert challenge is not None and not challenge.is_published
    slugs = db.scalars(select(Phase.slug).where(Phase.challenge_id == challenge.id)
                       .order_by(Phase.id)).all()
    assert slugs == ["sanity-check", "final-test"]
    html = client.get("/organize/msles-2027").text
    assert "sanity-check" in html and "final-test" in html and ">Publish</button>" in html


def test_an_uploaded_spec_file_is_read_like_a_pasted_one(db: Session, client: TestClient) -> None:
    organizer(db, client)
    answer = post(client, "/organize/new", {"spec": ""},
                  files={"spec_file": ("c.yaml", EXAMPLE.read_bytes(), "text/yaml")})
    assert answer.status_code == 303


def test_a_broken_spec_lists_the_clis_line_numbered_errors_and_keeps_the_text(
        db: Session, client: TestClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    organizer(db, client)
    monkeypatch.chdir(tmp_path)
    broken = EXAMPLE.read_text().replace("run_mode: per_case", "run_mode: sideways", 1) \
        .replace("memory_mb: 8192", "memory_mb: 1", 1)
    Path("spec").write_text(broken)
    try:
        load_spec(Path("spec"))
        raise AssertionError("the broken spec validated")
    except SpecError as exc:
        cli_lines = exc.lines()  # what `segarena challenge create` prints (source "spec")
    assert len(cli_lines) == 2 and all(re.match(r"spec:\d+: phases\[0\]", x) for x in cli_lines)
    line_of_run_mode = broken.splitlines().index("      run_mode: sideways") + 1
    assert any(x.startswith(f"spec:{line_of_run_mode}: ") for x in cli_lines)
    answer = post(client, "/organize/new", {"spec": broken})
    assert answer.status_code == 422
    alert = answer.text.split('role="alert"')[1].split("</div>")[0]
    assert [unescape(li) for li in re.findall(r"<li>(.*?)</li>", alert)] == cli_lines
    assert "run_mode: sideways" in answer.text  # the textarea keeps the text
    assert db.scalar(select(Challenge).where(Challenge.slug == "msles-2027")) is None


def test_a_spec_with_a_nul_or_oversized_is_refused_without_a_500(db: Session,
                                                                   client: TestClient) -> None:
    organizer(db, client)
    answer = post(client, "/organize/new", {"spec": ""},
                  files={"spec_file": ("c.yaml", b"slug: a\x00b\n", "text/yaml")})
    assert answer.status_code == 422 and "control characters" in answer.text
    big = post(client, "/organize/new", {"spec": "#" * (256 * 1024 + 1)})
    assert big.status_code == 422 and "longer than 256 KiB" in big.text


def test_a_participant_may_not_create_a_challenge(db: Session, client: TestClient) -> None:
    sign_in(client, db, factories.account(db, "pat").user)
    assert client.get("/organize/new").status_code == 403
    assert post(client, "/organize/new", {"spec": EXAMPLE.read_text()}).status_code == 403
    assert db.scalar(select(Challenge.id)) is None


def test_the_form_creates_a_challenge_then_a_phase_is_added(db: Session,
                                                             client: TestClient) -> None:
    organizer(db, client)
    bad = post(client, "/organize/new/form", {"slug": "Bad Slug!", "title": "T"})
    assert bad.status_code == 422 and 'id="f-slug-error"' in bad.text and "Bad Slug!" in bad.text
    ok = post(client, "/organize/new/form", {"slug": "lesions", "title": "Lesions"})
    assert ok.status_code == 303 and ok.headers["location"] == "/organize/lesions"
    now = utcnow()
    wrong = post(client, "/organize/lesions/phases", {
        "slug": "dev", "title": "Dev", "opens_at": now.isoformat(),
        "closes_at": (now - timedelta(days=1)).isoformat(), "visibility": "public",
        "leaderboard_visibility": "public"})
    assert wrong.status_code == 422 and "closes_at must be after opens_at" in wrong.text
    added = post(client, "/organize/lesions/phases", {
        "slug": "dev", "title": "Dev", "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(), "visibility": "participants",
        "leaderboard_visibility": "public"})
    assert added.status_code == 303
    phase = db.scalar(select(Phase).where(Phase.slug == "dev"))
    assert phase is not None and phase.visibility.value == "participants"


def test_publish_unpublish_open_and_close(db: Session, client: TestClient) -> None:
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions", published=False)
    factories.phase(db, olga, "lesions", "later", opens_at=utcnow() + timedelta(days=2),
                    closes_at=utcnow() + timedelta(days=9))
    assert post(client, "/organize/lesions/publish").status_code == 303
    db.expire_all()
    assert db.scalar(select(Challenge.is_published).where(Challenge.slug == "lesions"))
    assert post(client, "/organize/lesions/unpublish").status_code == 303
    db.expire_all()
    assert not db.scalar(select(Challenge.is_published).where(Challenge.slug == "lesions"))
    assert post(client, "/organize/lesions/phases/later/open").status_code == 303
    db.expire_all()
    phase = db.scalars(select(Phase).where(Phase.slug == "later")).one()
    assert phases.status(phase) == "open"
    assert post(client, "/organize/lesions/phases/later/close").status_code == 303
    db.expire_all()
    assert phases.status(db.scalars(select(Phase).where(Phase.slug == "later")).one()) == "closed"
    assert audit_actions(db).count("phase.update") == 2
    assert audit_actions(db).count("challenge.update") == 2


def test_without_the_csrf_token_nothing_changes(db: Session, client: TestClient) -> None:
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions", published=False)
    answer = client.post("/organize/lesions/publish", follow_redirects=False)
    assert answer.status_code == 403
    forged = client.post("/organize/lesions/publish", data={"csrf_token": "0" * 64},
                         follow_redirects=False)
    assert forged.status_code == 403
    db.expire_all()
    assert not db.scalar(select(Challenge.is_published).where(Challenge.slug == "lesions"))


def _edit_values(client: TestClient, url: str) -> dict[str, str]:
    """The edit form's current values, as a browser would post them back."""
    html = client.get(url).text
    form = html.split('action="' + url + '"')[-1]
    values = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form):
        values[name] = value
    for tag in re.findall(r'<input[^>]*type="checkbox"[^>]*>', form):
        name = re.search(r'name="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
        if "checked" in tag:
            values[name] = "on"
        else:
            values.pop(name, None)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        values[name] = chosen.group(1) if chosen else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form,
                                 re.S):
        values[name] = text
    values.pop("csrf_token", None)
    return values


def test_edit_shows_errors_next_to_their_fields_and_keeps_the_values(
        db: Session, client: TestClient) -> None:
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions")
    factories.phase(db, olga, "lesions", "dev")
    url = "/organize/lesions/phases/dev/edit"
    values = _edit_values(client, url)
    assert values["config.limits.memory_mb"] == "4096" and values["config.run_mode"] == "per_case"
    values.update({"config.limits.memory_mb": "12", "config.ranking.precision": "99"})
    answer = post(client, url, values)
    assert answer.status_code == 422
    assert re.search(r'id="f-config.limits.memory_mb-error">[^<]*greater than or equal to 64',
                     answer.text)
    assert 'id="f-config.ranking.precision-error"' in answer.text
    assert 'value="12"' in answer.text and 'value="99"' in answer.text
    unchanged = post(client, url, _edit_values(client, url))
    assert unchanged.status_code == 303


def test_the_confirm_step_counts_what_the_update_then_reruns(db: Session,
                                                              client: TestClient) -> None:
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions")
    phase = factories.phase(db, olga, "lesions", "dev")
    submissions(db, phase, 3)
    url = "/organize/lesions/phases/dev/edit"
    values = _edit_values(client, url)
    values["config.limits.memory_mb"] = "8192"  # changes what is scored: re-runs
    expected = phases.reevaluation_count(db=db, user=olga, phase_id=phase.id,
                                         data=PhaseUpdate.model_validate(
                                             {"config": {"limits": {"memory_mb": 8192}}}))
    assert expected == 3
    first = post(client, url, values)
    assert first.status_code == 200 and "This change re-runs 3 evaluations" in first.text
    db.expire_all()
    assert db.scalar(select(Evaluation.id)) is None  # nothing saved yet
    confirmed = post(client, url, {**values, "confirm": "1"})
    assert confirmed.status_code == 303
    db.expire_all()
    assert len(db.scalars(select(Evaluation)).all()) == expected
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "phase.update")).one()
    assert event.detail["reevaluated_submissions"] == expected


def submissions(db: Session, phase: Phase, n: int) -> list[Submission]:
    """``n`` submission rows of one team in ``phase`` (no archive: pages and counts only)."""
    from challenge.teams import service as teams
    user = factories.account(db, f"pat{phase.id}").user
    slug = db.scalars(select(Challenge.slug).where(Challenge.id == phase.challenge_id)).one()
    team = teams.create(db=db, user=user, slug=slug, name=f"Team {phase.id}")
    rows = [Submission(phase_id=phase.id, team_id=team.id, submitter_id=user.id,
                       archive_key=f"p{phase.id}-{i}", archive_bytes=1, archive_sha256="0" * 64,
                       image_digest="sha256:" + "0" * 64) for i in range(n)]
    db.add_all(rows)
    db.commit()
    return rows


def test_a_dataset_uploaded_without_javascript_shows_checksums_and_no_reference_link(
        db: Session, client: TestClient) -> None:
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions")
    archive = factories.tiny_dataset(n_cases=2).tar_bytes()
    answer = post(client, "/organize/lesions/datasets", {"name": "hidden"},
                  files={"file": ("d.tar.gz", archive, "application/gzip")})
    assert answer.status_code == 303, answer.text
    from challenge.datasets.models import Dataset
    dataset = db.scalars(select(Dataset)).one()
    assert answer.headers["location"] == f"/organize/lesions/datasets/{dataset.id}"
    html = client.get(answer.headers["location"]).text
    assert dataset.checksum in html
    assert all(c.reference_checksum in html for c in dataset.cases)
    assert "case000" in html and "8 × 8 × 8" in html
    links = set(re.findall(r'href="([^"]+)"', html))
    assert links <= {"/static/segarena.css", "#main", "/", "/account", "/docs", "/organize",
                     "/organize/lesions", "/organize/lesions/datasets"}, links
    assert "<form" not in html
    listing = client.get("/organize/lesions/datasets").text
    assert "hidden" in listing and dataset.checksum in listing
    again = post(client, "/organize/lesions/datasets", {"name": "hidden"},
                 files={"file": ("d.tar.gz", archive, "application/gzip")})
    assert again.status_code == 409 and "already" in again.text
    assert "dataset.create" in audit_actions(db)


def test_the_phase_dashboard_counts_queues_and_shows_failed_logs(db: Session,
                                                                 client: TestClient) -> None:
    from challenge.evaluations import service as evaluations
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions")
    phase = factories.phase(db, olga, "lesions", "dev")
    subs = submissions(db, phase, 3)
    queued = [evaluations.enqueue(db=db, submission=s, phase_config_id=phase.current_config_id)
              for s in subs]
    queued[1].state, queued[1].worker_id = EvalState.running, "worker-7"
    queued[1].cases_done, queued[1].cases_total = 1, 4
    queued[2].state, queued[2].organizer_log = EvalState.failed, "Traceback: out of memory"
    db.commit()
    html = client.get("/organize/lesions/phases/dev").text
    assert re.search(r'data-state="queued">1<', html) and re.search(r'data-state="running">1<',
                                                                  html)
    assert re.search(r'data-state="failed">1<', html)
    assert f"/evaluations/{queued[0].id}/cancel" in html
    assert "worker-7" in html and "1 of 4 cases" in html
    assert "Traceback: out of memory" in html
    live = client.get("/organize/lesions/phases/dev/live")
    assert live.status_code == 200 and "<html" not in live.text and "worker-7" in live.text


def test_cancel_and_reevaluate_change_state_and_are_audited(db: Session,
                                                           client: TestClient) -> None:
    from challenge.evaluations import service as evaluations
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions")
    phase = factories.phase(db, olga, "lesions", "dev")
    [sub] = submissions(db, phase, 1)
    evaluation = evaluations.enqueue(db=db, submission=sub,
                                     phase_config_id=phase.current_config_id)
    db.commit()
    answer = post(client, f"/organize/lesions/phases/dev/evaluations/{evaluation.id}/cancel")
    assert answer.status_code == 303
    db.expire_all()
    assert db.scalars(select(Evaluation.state).where(Evaluation.id == evaluation.id)).one() \
        == EvalState.cancelled
    again = post(client, f"/organize/lesions/phases/dev/submissions/{sub.id}/reevaluate")
    assert again.status_code == 303
    db.expire_all()
    states = db.scalars(select(Evaluation.state).where(Evaluation.submission_id == sub.id)
                        .order_by(Evaluation.id)).all()
    assert states == [EvalState.cancelled, EvalState.queued]
    assert audit_actions(db)[-2:] == ["evaluation.cancel", "submission.reevaluate"]
    other = factories.phase(db, olga, "lesions", "other")
    wrong_phase = post(client, f"/organize/lesions/phases/other/submissions/{sub.id}/reevaluate")
    assert wrong_phase.status_code == 404 and other.id


def test_the_audit_log_filters_by_action_actor_type_and_time(db: Session,
                                                            client: TestClient) -> None:
    olga = organizer(db, client).user
    factories.challenge(db, olga, "lesions")
    factories.phase(db, olga, "lesions", "dev")
    url = "/organize/lesions/audit"
    everything = client.get(url).text
    assert "challenge.create" in everything and "phase.create" in everything
    only_phase = client.get(url, params={"action": "phase.create"}).text
    assert "phase.create" in only_phase and "challenge.create" not in only_phase
    by_type = client.get(url, params={"object_type": "challenge"}).text
    assert "challenge.create" in by_type and "phase.create" not in by_type
    nobody = client.get(url, params={"actor": "nobody-here"}).text
    assert "No event matches" in nobody
    assert "phase.create" in client.get(url, params={"actor": "olga"}).text
    future = (utcnow() + timedelta(days=1)).isoformat()
    assert "No event matches" in client.get(url, params={"since": future}).text
    assert "phase.create" in client.get(url, params={"until": future}).text
    bad = client.get(url, params={"since": "yesterday", "action": "a\x01b"})
    assert bad.status_code == 422 and 'id="f-since-error"' in bad.text
    assert 'id="f-action-error"' in bad.text
