"""Who sees what (DESIGN section 7): every surface, as every viewer, under every phase setting.

One table, in the shape of ``test_authorization.py``: for each surface and phase setting, what
the organizer, the submitting team (Alpha), a member of another team (Bravo) and the public
get of Alpha's results. Each cell is the status (HTTP code, or the CLI's exit code), the error
code when refused, and the kinds of fields the answer holds:

- ``S`` Alpha's evaluation status (state, progress); ``H`` a ``scores_hidden_until`` time;
- ``A`` an aggregate of a ranked metric; ``U`` any value of an unranked metric;
- ``P`` per-case values of a ranked metric;
- ``R`` anything derived from the reference alone: ``n_ref``, ``ref_volume_ml``, ``tp``,
  ``fn``, the ``empty_reference`` flag, their values, a per-case AVD % (null exactly on the
  lesion-free case), or a null ranked value in a scored case;
- plots: ``D`` per-case distribution (box, whiskers, points), ``G`` aggregates only, ``none``.

Then a search of every GET route and page, as each non-organizer, for reference-derived keys
and values.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge import visibility
from challenge.cli import client as cli_client
from tests.challenge.visibility_world import (
    PAGE,
    RANKED,
    REFERENCE_KEYS,
    REFERENCE_VALUES,
    SETTINGS,
    VisWorld,
    build,
)
from tests.cli.helpers import Cli
from tests.routes import every_get_path

VIEWERS = ("organizer", "team", "participant", "public")
SURFACES = ("detail", "cases", "status", "board", "board.csv", "cases.csv", "page", "plot",
            "cli")
GONE = ("404 not_found", "401 not_authenticated")  # another team's / nobody's evaluation
PCH = "403 per_case_scores_hidden"

#                 surface, setting            organizer    team       participant  public
MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    ("detail", "per-case"):              ("200 A S U", "200 A S", *GONE),
    ("detail", "per-case+hidden"):       ("200 A S U", "200 H S", *GONE),
    ("detail", "per-case+closed"):       ("200 A S U", "200 A S", *GONE),
    ("detail", "aggregates"):            ("200 A S U", "200 A S", *GONE),
    ("detail", "aggregates+hidden"):     ("200 A S U", "200 H S", *GONE),
    ("detail", "aggregates+closed"):     ("200 A S U", "200 A S", *GONE),
    ("cases", "per-case"):               ("200 P R U", "200 P", *GONE),
    ("cases", "per-case+hidden"):        ("200 P R U", PCH, *GONE),
    ("cases", "per-case+closed"):        ("200 P R U", "200 P", *GONE),
    ("cases", "aggregates"):             ("200 P R U", PCH, *GONE),
    ("cases", "aggregates+hidden"):      ("200 P R U", PCH, *GONE),
    ("cases", "aggregates+closed"):      ("200 P R U", PCH, *GONE),
    ("status", "per-case"):              ("200 S", "200 S", "200", GONE[1]),
    ("status", "per-case+hidden"):       ("200 S", "200 H S", "200", GONE[1]),
    ("status", "per-case+closed"):       ("200 S", "200 S", "200", GONE[1]),
    ("status", "aggregates"):            ("200 S", "200 S", "200", GONE[1]),
    ("status", "aggregates+hidden"):     ("200 S", "200 H S", "200", GONE[1]),
    ("status", "aggregates+closed"):     ("200 S", "200 S", "200", GONE[1]),
    ("board", "per-case"):               ("200 A", "200 A", "200 A", "200 A"),
    ("board", "per-case+hidden"):        ("200 A", "200 H", "200 H", "200 H"),
    ("board", "per-case+closed"):        ("200 A", "200 A", "200 A", "200 A"),
    ("board", "aggregates"):             ("200 A", "200 A", "200 A", "200 A"),
    ("board", "aggregates+hidden"):      ("200 A", "200 H", "200 H", "200 H"),
    ("board", "aggregates+closed"):      ("200 A", "200 A", "200 A", "200 A"),
    ("board.csv", "per-case"):           ("200 A", "200 A", "200 A", "200 A"),
    ("board.csv", "per-case+hidden"):    ("200 A", "200", "200", "200"),
    ("board.csv", "per-case+closed"):    ("200 A", "200 A", "200 A", "200 A"),
    ("board.csv", "aggregates"):         ("200 A", "200 A", "200 A", "200 A"),
    ("board.csv", "aggregates+hidden"):  ("200 A", "200", "200", "200"),
    ("board.csv", "aggregates+closed"):  ("200 A", "200 A", "200 A", "200 A"),
    ("cases.csv", "per-case"):           ("200 P R", "200 P", "200 P", "200 P"),
    ("cases.csv", "per-case+hidden"):    ("200 P R", PCH, PCH, PCH),
    ("cases.csv", "per-case+closed"):    ("200 P R", "200 P", "200 P", "200 P"),
    ("cases.csv", "aggregates"):         ("200 P R", PCH, PCH, PCH),
    ("cases.csv", "aggregates+hidden"):  ("200 P R", PCH, PCH, PCH),
    ("cases.csv", "aggregates+closed"):  ("200 P R", PCH, PCH, PCH),
    ("page", "per-case"):                ("200 A", "200 A", "200 A", "200 A"),
    ("page", "per-case+hidden"):         ("200 A", "200", "200", "200"),
    ("page", "per-case+closed"):         ("200 A", "200 A", "200 A", "200 A"),
    ("page", "aggregates"):              ("200 A", "200 A", "200 A", "200 A"),
    ("page", "aggregates+hidden"):       ("200 A", "200", "200", "200"),
    ("page", "aggregates+closed"):       ("200 A", "200 A", "200 A", "200 A"),
    ("plot", "per-case"):                ("D", "D", "D", "D"),
    ("plot", "per-case+hidden"):         ("D", "none", "none", "none"),
    ("plot", "per-case+closed"):         ("D", "D", "D", "D"),
    ("plot", "aggregates"):              ("D", "G", "G", "G"),
    ("plot", "aggregates+hidden"):       ("D", "none", "none", "none"),
    ("plot", "aggregates+closed"):       ("D", "G", "G", "G"),
    ("cli", "per-case"):                 ("0 S", "0 S", "0", "1"),
    ("cli", "per-case+hidden"):          ("0 S", "0 H S", "0", "1"),
    ("cli", "per-case+closed"):          ("0 S", "0 S", "0", "1"),
    ("cli", "aggregates"):               ("0 S", "0 S", "0", "1"),
    ("cli", "aggregates+hidden"):        ("0 S", "0 H S", "0", "1"),
    ("cli", "aggregates+closed"):        ("0 S", "0 S", "0", "1"),
}

# A reference-derived key (JSON key, or a word for the longer names) or value, anywhere.
REFERENCE_TEXT = re.compile("|".join(
    [rf"\b{k}\b" for k in REFERENCE_KEYS if len(k) > 2]
    + [f'"{k}"' for k in REFERENCE_KEYS if len(k) <= 2]
    + [re.escape(repr(v)) for v in REFERENCE_VALUES.values()]))
UNRANKED = ("lesion_f1", "abs_volume_diff_ml")


def _cell(code: int | str, tokens: set[str]) -> str:
    return " ".join([str(code), *sorted(tokens)])


def _refused(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    return f"{response.status_code} {response.json()['error']['code']}"


def _reference(text: str) -> set[str]:
    return {"R"} if REFERENCE_TEXT.search(text) else set()


def _case_tokens(rows: list[dict[str, Any]]) -> set[str]:
    """Kinds of fields in per-case rows (``metrics``: metric -> value or None)."""
    tokens: set[str] = set()
    for row in rows:
        metrics = row["metrics"]
        if any(metrics.get(m) is not None for m in RANKED):
            tokens.add("P")
        if any(m in metrics for m in UNRANKED):
            tokens.add("U")
        if any(m in metrics for m in visibility.REFERENCE_CONDITIONAL):
            tokens.add("R")
        if row["status"] == "ok" and any(v is None for v in metrics.values()):
            tokens.add("R")
    return tokens


def _detail(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(f"/api/v1/evaluations/{world.ids['evaluation_id']}", headers=headers)
    if refused := _refused(response):
        return refused
    body = response.json()
    tokens = _reference(response.text) | _status_tokens(body)
    summary = body["summary"] or {}
    if any(f"mean_{m}" in summary for m in RANKED):
        tokens.add("A")
    if any(f"mean_{m}" in summary for m in UNRANKED):
        tokens.add("U")
    return _cell(200, tokens)


def _status_tokens(evaluation: dict[str, Any] | None) -> set[str]:
    if not evaluation:
        return set()
    tokens = {"S"} if {"state", "cases_done", "cases_total"} <= set(evaluation) else set()
    return tokens | ({"H"} if evaluation.get("scores_hidden_until") else set())


def _cases(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(f"/api/v1/evaluations/{world.ids['evaluation_id']}/cases",
                          headers=headers)
    if refused := _refused(response):
        return refused
    return _cell(200, _reference(response.text) | _case_tokens(response.json()["items"]))


def _alpha_status(submissions: list[dict[str, Any]], world: VisWorld) -> set[str]:
    alpha = [s for s in submissions if s["id"] == world.ids["submission_id"]]
    text = repr(alpha)
    tokens = _status_tokens(alpha[0]["evaluation"]) if alpha else set()
    return tokens | _reference(text) | ({"A"} if "mean_" in text else set())


def _status(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(f"/api/v1/phases/{world.ids['phase_id']}/submissions",
                          headers=headers)
    if refused := _refused(response):
        return refused
    return _cell(200, _alpha_status(response.json()["items"], world))


def _board(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(f"/api/v1/phases/{world.ids['phase_id']}/leaderboard",
                          headers=headers)
    if refused := _refused(response):
        return refused
    body = response.json()
    tokens = _reference(response.text)
    if any(row["scores"] for row in body["rows"]):
        tokens.add("A")
    if body["scores_hidden_until"]:
        tokens.add("H")
    return _cell(200, tokens)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _board_csv(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(f"/api/v1/phases/{world.ids['phase_id']}/leaderboard.csv",
                          headers=headers)
    if refused := _refused(response):
        return refused
    rows = _csv_rows(response.text)
    tokens = _reference(response.text) | ({"A"} if any(r["dice"] for r in rows) else set())
    return _cell(200, tokens)


def _cases_csv(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(f"/api/v1/phases/{world.ids['phase_id']}/cases.csv", headers=headers)
    if refused := _refused(response):
        return refused
    rows = []
    for row in _csv_rows(response.text):
        metrics = {k: (float(v) if v else None) for k, v in row.items()
                   if k not in ("team", "submission_id", "case_id", "status", "category")}
        rows.append({"status": row["status"], "metrics": metrics})
    return _cell(200, _reference(response.text) | _case_tokens(rows))


def _page(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    response = client.get(PAGE, headers=headers)
    tokens = _reference(response.text)
    if re.search(r'<td class="num primary">\d', response.text):
        tokens.add("A")
    return _cell(response.status_code, tokens)


def _plot(client: TestClient, world: VisWorld, headers: dict[str, str]) -> str:
    html = client.get(PAGE, headers=headers).text
    tokens = set()
    if 'class="box"' in html or 'class="points"' in html:
        tokens.add("D")
    if 'class="aggregate"' in html:
        tokens.add("G")
    return " ".join(sorted(tokens)) or "none"


class _InProcessHttpx:
    """Stands in for ``httpx`` in ``challenge.cli.client``: every client is the test client."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(httpx, name)

    def Client(self, **_: Any) -> contextlib.AbstractContextManager[TestClient]:  # noqa: N802
        return contextlib.nullcontext(self._client)


def _cli(client: TestClient, world: VisWorld, viewer: str, tmp_path: Path) -> str:
    """``segarena status PHASE --json`` as ``viewer``: what Alpha's entry shows."""
    run = Cli("http://testserver", tmp_path / f"cli-{viewer}.json")
    result = run("status", str(world.ids["phase_id"]), "--json", token=world.tokens[viewer])
    if result.exit_code != 0:
        return str(result.exit_code)
    return _cell(0, _alpha_status(json.loads(result.stdout), world))


PROBES: dict[str, Callable[[TestClient, VisWorld, dict[str, str]], str]] = {
    "detail": _detail, "cases": _cases, "status": _status, "board": _board,
    "board.csv": _board_csv, "cases.csv": _cases_csv, "page": _page, "plot": _plot}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_each_viewer_gets_what_the_phase_publishes_on_every_surface(
        client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        setting: str, viewer: str) -> None:
    world = build(db, SETTINGS[setting])
    monkeypatch.setattr(cli_client, "httpx", _InProcessHttpx(client))
    headers = world.headers(viewer)
    observed = {surface: probe(client, world, headers) for surface, probe in PROBES.items()}
    observed["cli"] = _cli(client, world, viewer, tmp_path)
    expected = {surface: MATRIX[(surface, setting)][VIEWERS.index(viewer)]
                for surface in SURFACES}
    assert observed == expected


def test_the_matrix_covers_every_surface_under_every_setting() -> None:
    assert set(MATRIX) == set(itertools.product(SURFACES, SETTINGS))
    assert all(len(cells) == len(VIEWERS) for cells in MATRIX.values())
    assert set(PROBES) | {"cli"} == set(SURFACES)
    # The search looks for every field the rule names as reference-derived.
    assert set(REFERENCE_KEYS) >= visibility.REFERENCE_FIELDS | visibility.REFERENCE_FLAGS


def _every_get(client: TestClient, app: FastAPI, world: VisWorld,
               headers: dict[str, str]) -> list[tuple[str, int, str]]:
    """Every GET route of the API (each id of both teams) and every page, as ``headers``."""
    values: dict[str, list[Any]] = {
        "slug": [world.ids["slug"]], "phase_id": [world.ids["phase_id"]],
        "phase_slug": [world.ids["phase_slug"]], "dataset_id": [world.ids["dataset_id"]],
        "team_id": [world.ids["team_id"], world.ids["other_team_id"]],
        "submission_id": [world.ids["submission_id"], world.ids["other_submission_id"]],
        "evaluation_id": [world.ids["evaluation_id"], world.ids["other_evaluation_id"]],
        "lease_id": ["no-such-lease-0001"]}  # site routes: a user's token is never a site's
    answers = []
    for path in every_get_path(app, values):
        response = client.get(path, headers=headers)
        assert response.status_code < 500, (path, response.text)
        answers.append((path, response.status_code, response.text))
    return answers


@pytest.mark.parametrize("setting", ["per-case", "aggregates+closed"])
def test_no_participant_or_public_answer_holds_a_reference_derived_field(
        client: TestClient, app: FastAPI, db: Session, setting: str) -> None:
    world = build(db, SETTINGS[setting])
    organizer = client.get(f"/api/v1/evaluations/{world.ids['evaluation_id']}/cases",
                           headers=world.headers("organizer")).text
    assert REFERENCE_TEXT.search(organizer)  # the markers are real: organizers see them
    seen = 0
    for viewer in ("team", "participant", "public"):
        answers = _every_get(client, app, world, world.headers(viewer))
        seen += sum(code == 200 for _, code, _ in answers)
        leaks = [(viewer, path, m.group(0)) for path, _, text in answers
                 if (m := REFERENCE_TEXT.search(text))]
        assert leaks == []
    assert seen > 30  # the search read real content


def _view(**overrides: Any) -> visibility.ResultView:
    closes = datetime(2027, 1, 1, tzinfo=UTC)
    arguments: dict[str, Any] = {
        "viewer": visibility.Viewer.team, "hide_scores_until_close": True, "closes_at": closes,
        "show_per_case_scores": True, "ranked_metrics": RANKED, "now": closes}
    return visibility.decide(**{**arguments, **overrides})


def test_scores_show_from_the_closing_instant_and_never_hide_from_organizers() -> None:
    closes = datetime(2027, 1, 1, tzinfo=UTC)
    assert not _view().scores_hidden and _view().per_case
    early = _view(now=closes - timedelta(microseconds=1))
    assert early.scores_hidden_until == closes and not early.per_case
    assert early.summary({"n_ok": 3, "mean_dice": 0.5}) == {"n_ok": 3}
    organizer = _view(viewer=visibility.Viewer.organizer, now=closes - timedelta(days=1))
    assert not organizer.scores_hidden and organizer.per_case


def test_undefined_values_are_shown_as_the_ranking_counts_them() -> None:
    view = _view()
    assert view.per_case_metrics == ("dice", "lesion_recall")  # AVD % never per case
    stored = {"dice": None, "lesion_recall": None, "avd_pct": None, "n_ref": 0}
    assert view.case_values("ok", stored) == {"dice": 0.0, "lesion_recall": 0.0}
    assert view.case_values("missing", {}) == {"dice": None, "lesion_recall": None}
    assert view.case_flags(["empty_reference", "empty_prediction"]) == []
    organizer = _view(viewer=visibility.Viewer.organizer)
    assert organizer.case_values("ok", stored) == {"dice": None, "lesion_recall": None,
                                                   "avd_pct": None, "n_ref": 0}


def test_values_against_each_rater_follow_the_ranked_reference_rule() -> None:
    stored = {"r1": {"dice": None, "lesion_recall": 0.5, "avd_pct": 3.0, "n_ref": 4, "tp": 2},
              "r2": {"dice": 0.7, "lesion_recall": None, "avd_pct": None, "n_ref": 0}}
    view = _view()
    assert view.rater_values("ok", stored) == {
        "r1": {"dice": 0.0, "lesion_recall": 0.5}, "r2": {"dice": 0.7, "lesion_recall": 0.0}}
    assert view.rater_values("missing", stored) == {
        "r1": {"dice": None, "lesion_recall": None}, "r2": {"dice": None, "lesion_recall": None}}
    assert view.rater_values("ok", None) == {}
    organizer = _view(viewer=visibility.Viewer.organizer)
    assert organizer.rater_values("ok", stored) == stored
    hidden = _view(now=datetime(2027, 1, 1, tzinfo=UTC) - timedelta(days=1))
    with pytest.raises(visibility.Forbidden):
        hidden.require_per_case()


@pytest.mark.parametrize(("setting", "sentences"), [
    ("per-case", ["Per-case scores of the ranked metrics are published",
                  "Absolute volume difference (%) is not published per case",
                  "shown as the ranking counts it"]),
    ("aggregates+hidden", ["Before the phase closes, no score is shown to anyone but the "
                           "organizers", "mean of the primary metric only, with no per-case "
                           "point, quartile, whisker or extreme"]),
])
def test_challenge_page_says_what_is_shown(client: TestClient, db: Session, setting: str,
                                           sentences: list[str]) -> None:
    build(db, SETTINGS[setting])
    html = client.get("/challenges/vis").text.replace("&#39;", "'")
    assert "<h3>What is shown</h3>" in html
    for sentence in sentences:
        assert sentence in html
    assert "computed from the reference masks" in html
