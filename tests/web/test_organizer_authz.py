"""Who gets what from every ``/organize`` page: ONE table, checked for each viewer. A page
route under ``/organize`` without a row fails ``test_every_organizer_route_has_a_row``.

Viewers: anonymous (a GET is sent to sign in: 303; a POST has no session: 401 page),
a participant, the organizer of another challenge, the challenge's organizer, an admin.
The challenge ``lesions`` is published, so others see it and get 403 (as from the API's
``require_organizer``); creation pages refuse participants (403, the API's rule).
"""

from __future__ import annotations

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.core.bodylimit import page_upload_operations
from challenge.evaluations import service as evaluations
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from tests import factories
from tests.web.helpers import csrf_token, sign_in

VIEWERS = ("anonymous", "participant", "other_organizer", "organizer", "admin")
P = "/organize/lesions/phases/dev"
# (method, route path, concrete url) -> status for each viewer, in VIEWERS order. POSTs carry
# a valid CSRF token and an empty form: a permitted one answers what its service says.
TABLE: dict[tuple[str, str, str], tuple[int, ...]] = {
    ("GET", "/organize", "/organize"): (303, 200, 200, 200, 200),
    ("GET", "/organize/new", "/organize/new"): (303, 403, 200, 200, 200),
    ("POST", "/organize/new", "/organize/new"): (401, 403, 422, 422, 422),
    ("GET", "/organize/new/form", "/organize/new/form"): (303, 403, 200, 200, 200),
    ("POST", "/organize/new/form", "/organize/new/form"): (401, 403, 422, 422, 422),
    ("GET", "/organize/{slug}", "/organize/lesions"): (303, 403, 403, 200, 200),
    ("POST", "/organize/{slug}/publish", "/organize/lesions/publish"): (401, 403, 403, 303, 303),
    ("POST", "/organize/{slug}/unpublish", "/organize/lesions/unpublish"):
        (401, 403, 403, 303, 303),
    ("POST", "/organize/{slug}/phases", "/organize/lesions/phases"): (401, 403, 403, 422, 422),
    ("POST", "/organize/{slug}/phases/{phase_slug}/open", P + "/open"):
        (401, 403, 403, 303, 303),
    ("POST", "/organize/{slug}/phases/{phase_slug}/close", P + "/close"):
        (401, 403, 403, 303, 303),
    ("GET", "/organize/{slug}/phases/{phase_slug}/edit", P + "/edit"): (303, 403, 403, 200, 200),
    ("POST", "/organize/{slug}/phases/{phase_slug}/edit", P + "/edit"):
        (401, 403, 403, 422, 422),
    ("POST", "/organize/{slug}/phases/{phase_slug}/dataset", P + "/dataset"):
        (401, 403, 403, 303, 303),
    ("GET", "/organize/{slug}/phases/{phase_slug}", P): (303, 403, 403, 200, 200),
    ("GET", "/organize/{slug}/phases/{phase_slug}/live", P + "/live"): (303, 403, 403, 200, 200),
    ("POST", "/organize/{slug}/phases/{phase_slug}/evaluations/{evaluation_id}/cancel",
     P + "/evaluations/{evaluation}/cancel"): (401, 403, 403, 303, 303),
    ("POST", "/organize/{slug}/phases/{phase_slug}/submissions/{submission_id}/reevaluate",
     P + "/submissions/{submission}/reevaluate"): (401, 403, 403, 303, 303),
    ("GET", "/organize/{slug}/datasets", "/organize/lesions/datasets"): (303, 403, 403, 200, 200),
    ("POST", "/organize/{slug}/datasets", "/organize/lesions/datasets"):
        (401, 403, 403, 422, 422),
    ("GET", "/organize/{slug}/datasets/{dataset_id}", "/organize/lesions/datasets/{dataset}"):
        (303, 403, 403, 200, 200),
    ("GET", "/organize/{slug}/audit", "/organize/lesions/audit"): (303, 403, 403, 200, 200),
}


def test_every_organizer_route_has_a_row(app) -> None:  # type: ignore[no-untyped-def]
    routes = {(method, context.path) for context in iter_route_contexts(app.routes)
              if context.path and context.path.startswith("/organize")
              for method in context.methods or ()}
    assert routes
    assert routes == {(method, path) for method, path, _ in TABLE}


@pytest.mark.parametrize("viewer", VIEWERS)
def test_each_viewer_gets_the_tables_status_on_every_organizer_page(
        db: Session, client: TestClient, viewer: str) -> None:
    admin = factories.admin_account(db).user
    olga = factories.account(db, "olga", Role.organizer, admin=admin).user
    otto = factories.account(db, "otto", Role.organizer, admin=admin).user
    pat = factories.account(db, "pat").user
    factories.challenge(db, olga, "lesions")
    factories.challenge(db, otto, "elsewhere")
    phase = factories.phase(db, olga, "lesions", "dev")
    tess = factories.account(db, "tess").user
    team = teams.create(db=db, user=tess, slug="lesions", name="Tess")
    sub = Submission(phase_id=phase.id, team_id=team.id, submitter_id=tess.id, archive_key="k",
                     archive_bytes=1, archive_sha256="0" * 64, image_digest="sha256:" + "0" * 64)
    ids: dict[str, int] = {}
    db.add(sub)
    db.flush()
    ids["submission"] = sub.id
    ids["evaluation"] = evaluations.enqueue(db=db, submission=sub,
                                            phase_config_id=phase.current_config_id).id
    db.commit()
    ids["dataset"] = _dataset_id(db, client, olga)
    client.cookies.clear()
    users = {"participant": pat, "other_organizer": otto, "organizer": olga, "admin": admin}
    if viewer in users:
        sign_in(client, db, users[viewer])
    token = csrf_token(client)
    column = VIEWERS.index(viewer)
    wrong = []
    for (method, _, url), statuses in TABLE.items():
        url = url.format(**ids)
        if method == "GET":
            answer = client.get(url, follow_redirects=False)
        else:
            answer = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        if answer.status_code != statuses[column]:
            wrong.append((method, url, answer.status_code, statuses[column]))
        if answer.status_code == 303 and viewer == "anonymous":
            assert answer.headers["location"].startswith("/signin?next=")
    assert wrong == []


def _dataset_id(db: Session, client: TestClient, organizer: factories.User) -> int:
    """A dataset of ``lesions`` uploaded by its organizer through the no-JS page."""
    sign_in(client, db, organizer)
    answer = client.post("/organize/lesions/datasets",
                         data={"csrf_token": csrf_token(client), "name": "hidden"},
                         files={"file": ("d.tar.gz", factories.tiny_dataset(1).tar_bytes(),
                                         "application/gzip")}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def test_the_no_js_uploads_are_the_only_pages_exempt_from_the_body_cap(app) -> None:  # type: ignore[no-untyped-def]
    exempt = page_upload_operations(app.routes)
    samples = ("/organize/lesions/datasets", "/challenges/lesions/phases/test/submit",
               "/organize/lesions/audit", "/signin", "/challenges/lesions/team/create")
    assert sorted((m, path) for m, r in exempt for path in samples if r.fullmatch(path)) == [
        ("POST", "/challenges/lesions/phases/test/submit"),
        ("POST", "/organize/lesions/datasets")]
