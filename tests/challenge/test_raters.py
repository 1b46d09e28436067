"""Several raters per case, through the platform (DESIGN section 10), on both databases:
ingest refuses inconsistent raters, the phase's reference rule must fit the dataset, the
worker stores per-rater case metrics and the human baseline, and who sees which of them."""

from __future__ import annotations

import tarfile

import nibabel as nib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.datasets.models import Dataset
from challenge.evaluations import baseline
from challenge.evaluations.models import BaselineResult, CaseResult, EvalState
from challenge.phases.config import PhaseConfigSpec
from evaluator import consensus
from evaluator.metrics import evaluate_case, get_preset
from tests import factories as f
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.worker_world import build, make_worker, quiet

RANKED = ["dice", "lesion_f1", "abs_volume_diff_ml"]


def _organizer(db: Session) -> f.Account:
    admin = f.admin_account(db)
    org = f.account(db, "org", f.Role.organizer, admin.user)
    f.challenge(db, org.user, "alpha")
    return org


def _upload(client, org: f.Account, data: bytes, name: str = "hidden"):
    return client.post(f"/api/v1/challenges/alpha/datasets?name={name}", content=data,
                       headers=org.headers)


def test_a_rater_dataset_is_accepted_and_records_its_raters(client, db):
    org = _organizer(db)
    r = _upload(client, org, f.rater_dataset(2, 3).tar_bytes())
    assert r.status_code == 201, r.text
    assert r.json()["raters"] == ["rater1", "rater2", "rater3"]
    detail = client.get(f"/api/v1/datasets/{r.json()['id']}", headers=org.headers).json()
    assert sorted(detail["cases"][0]["rater_checksums"]) == ["rater1", "rater2", "rater3"]
    plain = _upload(client, org, f.tiny_dataset(2).tar_bytes(), name="plain").json()
    assert plain["raters"] == [] and plain["checksum"] != r.json()["checksum"]


def test_a_dataset_with_inconsistent_raters_is_refused_naming_case_and_rater(client, db):
    org = _organizer(db)
    data = f.rater_dataset(3, 3)
    del data.raters["case001"]["rater2"]
    r = _upload(client, org, data.tar_bytes())
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "inconsistent_raters"
    assert "case001" in body["message"] and "rater2" in body["message"]


@pytest.mark.parametrize(("change", "code"), [
    ("one_rater", "too_few_raters"), ("not_binary", "rater_mask_not_binary"),
    ("other_grid", "grid_mismatch"), ("bad_name", "invalid_dataset_archive"),
])
def test_bad_rater_masks_are_refused_with_a_clear_code(client, db, change, code):
    org = _organizer(db)
    data = f.rater_dataset(2, 3)
    if change == "one_rater":
        data.raters = {c: {"rater1": m["rater1"]} for c, m in data.raters.items()}
    elif change == "not_binary":
        mask = np.zeros((8, 8, 8), np.uint8)
        mask[2:4, 2:4, 2:4] = 2
        data.raters["case000"]["rater3"] = f.nifti_bytes(mask)
    elif change == "other_grid":
        data.raters["case000"]["rater3"] = f.nifti_bytes(np.zeros((8, 8, 9), np.uint8))
    else:
        data.raters["case000"]["9bad\u202e"] = data.raters["case000"].pop("rater3")
    r = _upload(client, org, data.tar_bytes())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code


def test_the_reference_rule_must_fit_the_dataset(client, db):
    org = _organizer(db)
    plain = _upload(client, org, f.tiny_dataset(2).tar_bytes(), name="plain").json()
    raters_only = _upload(client, org, f.rater_dataset(2, 3, consensus=False).tar_bytes(),
                          name="raters").json()

    def create(slug: str, dataset: dict, mode: str):
        return client.post("/api/v1/challenges/alpha/phases", headers=org.headers, json={
            "slug": slug, "title": slug, "opens_at": "2020-01-01T00:00:00Z",
            "closes_at": "2099-01-01T00:00:00Z", "dataset_id": dataset["id"],
            "config": {"reference": {"mode": mode}}})

    r = create("p1", plain, "staple")
    assert r.status_code == 422 and r.json()["error"]["code"] == "reference_needs_raters"
    r = create("p2", raters_only, "consensus")
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_consensus"
    assert "case000" in r.json()["error"]["message"]
    assert create("p3", raters_only, "majority").status_code == 201
    r = create("p4", raters_only, "median")
    assert r.status_code == 422


def _world(db, app, tmp_path, mode="majority", per_case=True, **phase):
    config = {"reference": {"mode": mode}, "show_per_case_scores": per_case,
              "ranking": {"metrics": RANKED, "primary_metric": "dice"}}
    return build(db, app.state.storage, tmp_path, config=config,
                 data=f.rater_dataset(3, 3, consensus=(mode == "consensus")), **phase)


@pytest.mark.parametrize("mode", ["majority", "staple", "consensus"])
def test_the_worker_scores_against_the_consensus_each_rater_and_stores_the_baseline(
        db, session_factory, app, settings, tmp_path, mode):
    world = _world(db, app, tmp_path, mode)
    worker = make_worker(session_factory, app, quiet(settings), FakeExecutor())
    assert worker.run(world.evaluation_id) == EvalState.succeeded
    storage = app.state.storage
    results = list(db.scalars(select(CaseResult).where(
        CaseResult.evaluation_id == world.evaluation_id).order_by(CaseResult.case_id)))
    masks = f.rater_masks(3, 3)
    config = get_preset("msseg")
    for result in results:  # the fake executor's prediction, recomputed from the input
        flair = np.asarray(nib.load(
            storage.dataset_inputs(_key(db), result.case_id) / "flair.nii.gz").dataobj)
        prediction = flair > flair.mean() + 2 * flair.std()
        case_masks = {r: m.astype(bool) for r, m in masks[result.case_id].items()}
        ranked = consensus.ranked_reference(mode, case_masks, _given())
        assert result.metrics == evaluate_case(prediction, ranked, (1, 1, 1),
                                               config).as_flat_dict()
        assert result.rater_metrics == {
            r: evaluate_case(prediction, m, (1, 1, 1), config).as_flat_dict()
            for r, m in case_masks.items()}
    spec = PhaseConfigSpec.model_validate({"reference": {"mode": mode}})
    key = baseline.scoring_key(spec.evaluation(), _checksum(db))
    stored = baseline.rows(db, key)
    assert len(stored) == 9 and {b.rater for b in stored} == {"rater1", "rater2", "rater3"}
    for row in stored:
        case_masks = {r: m.astype(bool) for r, m in masks[row.case_id].items()}
        others = consensus.leave_one_out(mode, case_masks)
        assert row.metrics == evaluate_case(case_masks[row.rater], others[row.rater],
                                            (1, 1, 1), config).as_flat_dict()


def _given() -> np.ndarray:
    ref = np.zeros((8, 8, 8), bool)
    ref[2:4, 2:4, 2:4] = True  # tiny_dataset's reference
    return ref


def _key(db) -> str:
    return db.scalars(select(Dataset.storage_key)).one()


def _checksum(db) -> str:
    return db.scalars(select(Dataset.checksum)).one()


def test_a_second_evaluation_reuses_the_stored_consensus_and_baseline(
        db, session_factory, app, settings, tmp_path, monkeypatch):
    world = _world(db, app, tmp_path, mode="staple")
    calls = []
    real = consensus.staple_probability

    def counted(masks, **kwargs):
        calls.append(len(masks))
        return real(masks, **kwargs)

    monkeypatch.setattr(consensus, "staple_probability", counted)
    worker = make_worker(session_factory, app, quiet(settings), FakeExecutor())
    worker.run(world.evaluation_id)
    # per case: the ranked STAPLE of 3 raters once, then 3 leave-one-out STAPLEs of 2
    assert sorted(calls) == [2] * 9 + [3] * 3
    stored = sorted(app.state.storage.root.glob("datasets/*/ranked/*/*.nii.gz"))
    assert [p.name for p in stored] == ["case000.nii.gz", "case001.nii.gz", "case002.nii.gz"]
    first = {(b.rater, b.case_id): b.id for b in db.scalars(select(BaselineResult))}
    client_h = world.organizer.headers
    with TestClient(app) as client:
        r = client.post(f"/api/v1/submissions/{world.submission_id}/reevaluate",
                        headers=client_h)
        assert r.status_code == 200, r.text
    calls.clear()
    assert worker.run_next()
    again = {(b.rater, b.case_id): b.id for b in db.scalars(select(BaselineResult))}
    assert again == first and len(first) == 9
    assert calls == []  # neither the ranked consensus nor the baseline was computed again
    rerun = db.scalars(select(CaseResult).where(CaseResult.evaluation_id != world.evaluation_id)
                       .order_by(CaseResult.case_id)).all()
    original = db.scalars(select(CaseResult).where(
        CaseResult.evaluation_id == world.evaluation_id).order_by(CaseResult.case_id)).all()
    assert [r.metrics for r in rerun] == [r.metrics for r in original]


def _cases(client, world, account):
    return client.get(f"/api/v1/evaluations/{world.evaluation_id}/cases",
                      headers=account.headers)


def test_per_rater_case_values_follow_the_visibility_rule_per_role(
        db, session_factory, app, settings, tmp_path):
    world = _world(db, app, tmp_path, per_case=True)
    make_worker(session_factory, app, quiet(settings), FakeExecutor()).run(world.evaluation_id)
    with TestClient(app) as client:
        organizer = _cases(client, world, world.organizer).json()["items"]
        assert set(organizer[0]["raters"]) == {"rater1", "rater2", "rater3"}
        assert "n_ref" in organizer[0]["raters"]["rater1"]  # organizers: the full record
        team = _cases(client, world, world.member)
        assert team.status_code == 200
        for case in team.json()["items"]:
            for values in case["raters"].values():
                assert set(values) == set(RANKED)  # ranked only: no n_ref, tp, fn, volumes
        other = f.account(db, "outsider")
        assert _cases(client, world, other).status_code == 404
        csv_text = client.get(f"/api/v1/phases/{world.phase_id}/cases.csv").text
        header = csv_text.splitlines()[0].split(",")
        assert "dice@rater2" in header and not any("n_ref" in h for h in header)
        board = client.get(f"/api/v1/phases/{world.phase_id}/leaderboard").json()
        assert [r["rater"] for r in board["reference_rows"]] == ["rater1", "rater2", "rater3"]
        assert board["raters"] == ["rater1", "rater2", "rater3"]
        assert all(row["team"] != "rater1" for row in board["rows"])


def test_without_published_per_case_scores_no_rater_value_reaches_the_team(
        db, session_factory, app, settings, tmp_path):
    world = _world(db, app, tmp_path, per_case=False)
    make_worker(session_factory, app, quiet(settings), FakeExecutor()).run(world.evaluation_id)
    with TestClient(app) as client:
        r = _cases(client, world, world.member)
        assert r.status_code == 403 and r.json()["error"]["code"] == "per_case_scores_hidden"
        assert client.get(f"/api/v1/phases/{world.phase_id}/cases.csv").status_code == 403
        assert _cases(client, world, world.organizer).json()["items"][0]["raters"]


def test_reference_rows_are_hidden_while_scores_are(db, session_factory, app, settings,
                                                    tmp_path):
    world = _world(db, app, tmp_path, hide_scores_until_close=True)
    make_worker(session_factory, app, quiet(settings), FakeExecutor()).run(world.evaluation_id)
    with TestClient(app) as client:
        public = client.get(f"/api/v1/phases/{world.phase_id}/leaderboard").json()
        assert public["reference_rows"] == [] and public["scores_hidden_until"]
        shown = client.get(f"/api/v1/phases/{world.phase_id}/leaderboard",
                           headers=world.organizer.headers).json()
        assert len(shown["reference_rows"]) == 3


def test_a_rater_path_cannot_escape_its_case_folder(client, db):
    org = _organizer(db)
    data = f.rater_dataset(2, 3)
    extra = tarfile.TarInfo("references/case000/../../x.nii.gz")
    payload = data.raters["case000"]["rater1"]
    extra.size = len(payload)
    r = _upload(client, org, data.tar_bytes(extra=[(extra, payload)]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsafe_archive_entry"


@pytest.mark.parametrize("per_case", [True, False])
def test_the_page_marks_reference_rows_and_draws_the_rater_band(
        db, session_factory, app, settings, tmp_path, per_case):
    world = _world(db, app, tmp_path, per_case=per_case)
    make_worker(session_factory, app, quiet(settings), FakeExecutor()).run(world.evaluation_id)
    with TestClient(app) as client:
        board = client.get(f"/api/v1/phases/{world.phase_id}/leaderboard").json()
        page = client.get("/challenges/alpha/phases/test").text
        rules = client.get("/challenges/alpha").text
    assert page.count('class="reference-row"') == 3 and "not ranked" in page
    assert 'class="rater-band"' in page
    dice = [r["scores"]["dice"] for r in board["reference_rows"]]
    assert f"from {min(dice):.3g} to {max(dice):.3g}" in page
    assert ('id="plot-distribution"' in page) is per_case
    assert ('id="plot-aggregates"' in page) is not per_case
    assert "strict majority vote of the 3 raters" in rules
    assert "Human baseline" in rules
