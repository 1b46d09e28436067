"""Who sees what: hidden-reference facts and hidden scores reach no participant or public
surface (issue 10, items 1-3; the rule is ``challenge.visibility``).

The world (``tests.challenge.visibility_world``) has two teams with four hidden cases each: two
with reference lesions, one lesion-free (its AVD % and lesion recall are undefined and it is
flagged ``empty_reference``), one timed out. The full table of viewers x settings x surfaces is
``tests/challenge/test_visibility.py``.
"""

from __future__ import annotations

import csv
import io
import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.challenge.test_visibility import REFERENCE_TEXT
from tests.challenge.visibility_world import PAGE, SETTINGS, build


def test_item1_team_learns_no_reference_fact_from_its_per_case_results(
        client: TestClient, db: Session) -> None:
    """A team reads its per-case results (API and per-case CSV) for lesion counts, reference volumes and lesion-free cases: it gets ranked metrics, status and category only."""  # noqa: E501
    world = build(db, SETTINGS["per-case"])
    team = world.headers("team")
    response = client.get(f"/api/v1/evaluations/{world.ids['evaluation_id']}/cases",
                          headers=team)
    assert response.status_code == 200 and not REFERENCE_TEXT.search(response.text)
    rows = {row["case_id"]: row for row in response.json()["items"]}
    scored = [rows[c] for c in ("c1", "c2", "c3")]
    # The lesion-free case c3 looks like any other scored case: same keys, no null, no flag.
    assert all(set(r["metrics"]) == {"dice", "lesion_recall"} for r in scored)
    assert all(None not in r["metrics"].values() and r["flags"] == [] for r in scored)
    assert rows["c3"]["metrics"] == {"dice": 0.0, "lesion_recall": 0.0}
    assert rows["c4"] == {"case_id": "c4", "status": "missing", "category": "timeout",
                          "metrics": {"dice": None, "lesion_recall": None}, "raters": {},
                          "flags": []}
    exported = client.get(f"/api/v1/phases/{world.ids['phase_id']}/cases.csv", headers=team)
    assert exported.status_code == 200 and not REFERENCE_TEXT.search(exported.text)
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(lines[0]) == ["team", "submission_id", "case_id", "status", "category", "dice",
                              "lesion_recall"]
    assert all(line["dice"] and line["lesion_recall"] for line in lines
               if line["status"] == "ok")


def test_item2_hidden_scores_reach_no_surface_before_close(client: TestClient,
                                                          db: Session) -> None:
    """Before close in a phase hiding scores until then, the team reads its evaluation, per-case results, status and the leaderboard: no score anywhere, each says until when."""  # noqa: E501
    world = build(db, SETTINGS["per-case+hidden"])
    team = world.headers("team")
    until = world.phase.closes_at.isoformat().replace("+00:00", "Z")
    detail = client.get(f"/api/v1/evaluations/{world.ids['evaluation_id']}",
                        headers=team).json()
    assert detail["summary"] == {"n_cases": 4, "n_ok": 3, "categories": {"ok": 3, "timeout": 1}}
    assert detail["scores_hidden_until"] == until and detail["per_case_available"] is False
    for path in (f"/api/v1/evaluations/{world.ids['evaluation_id']}/cases",
                 f"/api/v1/phases/{world.ids['phase_id']}/cases.csv"):
        refused = client.get(path, headers=team)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "per_case_scores_hidden"
    listed = client.get(f"/api/v1/phases/{world.ids['phase_id']}/submissions",
                        headers=team).json()["items"]
    assert [s["evaluation"]["scores_hidden_until"] for s in listed] == [until]
    board = client.get(f"/api/v1/phases/{world.ids['phase_id']}/leaderboard",
                       headers=team).json()
    assert board["scores_hidden_until"] == until
    assert all(row["scores"] == {} and row["rank"] is None for row in board["rows"])


def test_item3_plot_without_public_per_case_scores_draws_aggregates_only(
        client: TestClient, db: Session) -> None:
    """The public page of a phase not publishing per-case scores: its score plot draws no per-case point, quartile, whisker or extreme, so no per-case value can be read off it."""  # noqa: E501
    world = build(db, SETTINGS["aggregates"])
    html = client.get(PAGE).text
    board = client.get(f"/api/v1/phases/{world.ids['phase_id']}/leaderboard").json()
    assert 'class="box"' not in html and 'class="points"' not in html
    assert "plot-distribution" not in html
    svg = re.search(r'<svg [^>]*id="plot-aggregates".*?</svg>', html, re.S)
    assert svg is not None
    plot = svg.group(0)
    assert plot.count('class="aggregate"') == len(board["rows"]) == 2
    assert "median" not in plot and "quartile" not in plot
    # The text alternative names each team's published aggregate, and nothing else.
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", plot, re.S).group(1)  # type: ignore[union-attr]
    shown = {f"{row['team']}: {row['scores']['dice']:.3g}" for row in board["rows"]}
    assert set(re.findall(r"\w+: [\d.]+", desc)) == shown
    # Per-case Dice values (0.8125, 0.6875, 0.5625, 0.4375 at 3 digits) appear nowhere.
    for value in ("0.812", "0.8125", "0.688", "0.6875", "0.562", "0.5625", "0.438", "0.4375"):
        assert value not in plot
    ticks = [float(t) for t in re.findall(r'fill="#57606a">([-\d.]+)</text>', plot)]
    assert min(ticks) == 0.0 and max(ticks) == 1.0  # no axis stretched to an extreme case
