"""The public pages: content, the same visibility as the API, escaping, accessible markup."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.phases import service as phases
from challenge.phases.models import Visibility
from tests.leaderboard.world import build

PAGE = "/challenges/msles/phases/final"


def _team_order(html: str) -> list[str]:
    table = html.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<th scope="row" class="team">([^<]*)</th>', table)


def test_index_lists_published_challenges_with_their_phases(db: Session,
                                                            client: TestClient) -> None:
    build(db)
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/html")
    assert 'href="/challenges/msles"' in response.text
    assert 'href="/challenges/msles/phases/final"' in response.text


def test_challenge_page_states_the_rules_in_words(db: Session, client: TestClient) -> None:
    build(db)
    html = client.get("/challenges/msles").text
    assert "lesions are 6-connected components" in html
    assert "Lesions of 3 mm³ or less are ignored in both the reference and the prediction" in html
    assert "more than 10 % of its voxels are covered by the prediction" in html
    assert "Aggregate then rank: each metric&#39;s mean over the 4 test cases" in html
    assert "rank of the mean of the per-metric ranks" in html
    assert "Each team&#39;s latest submission counts" in html
    assert "<caption>Schedule of the phases</caption>" in html


def test_phase_page_shows_ranked_rows_plots_and_provenance(db: Session,
                                                           client: TestClient) -> None:
    world = build(db)
    response = client.get(PAGE)
    assert response.status_code == 200
    html = response.text
    assert _team_order(html) == ["Alpha", "Bravo", "Charlie"]
    assert "0.750" in html and "0.525" in html and "<caption>Leaderboard" in html
    config = phases.current_config(db, world.phase)
    assert config.config_hash in html and "ab" * 32 in html and "0.1.0" in html
    for ident in ("plot-aggregates", "plot-blobs", "plot-significance"):
        assert f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}"' in html
        assert f'aria-labelledby="{ident}-title {ident}-desc"' in html
    # per-case dots, boxes and whiskers only when per-case scores are published
    assert 'class="points"' not in html and 'class="box"' not in html
    assert "plot-distribution" not in html and "/cases.csv" not in html


def test_per_case_points_and_link_when_published(db: Session, client: TestClient) -> None:
    build(db, per_case=True)
    html = client.get(PAGE).text
    assert 'class="points"' in html and "/cases.csv" in html
    assert 'id="plot-distribution"' in html and "plot-aggregates" not in html


def test_hidden_scores_page_lists_teams_without_numbers(db: Session, client: TestClient) -> None:
    build(db, hide_scores=True)
    html = client.get(PAGE).text
    assert "Scores are hidden until the phase closes on" in html
    assert _team_order(html) == ["Alpha", "Bravo", "Charlie"]
    assert "0.750" not in html and "<svg" not in html


def test_participants_only_leaderboard_page_is_403_for_the_public(db: Session,
                                                                  client: TestClient) -> None:
    world = build(db, leaderboard=Visibility.participants)
    response = client.get(PAGE)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "the leaderboard of this phase is not public" in response.text
    assert "Alpha" not in response.text
    member = client.get(PAGE, headers=world.headers("member"))
    assert member.status_code == 200 and _team_order(member.text)[0] == "Alpha"


def test_invisible_phase_and_unknown_challenge_are_404_pages(db: Session,
                                                             client: TestClient) -> None:
    world = build(db)
    world.phase.visibility = Visibility.organizers
    db.commit()
    assert client.get(PAGE).status_code == 404
    assert client.get(PAGE, headers=world.headers("organizer")).status_code == 200
    missing = client.get("/challenges/nope")
    assert missing.status_code == 404 and "Not found" in missing.text


def test_team_names_are_escaped_in_table_and_plots(db: Session, client: TestClient) -> None:
    world = build(db)
    world.teams["Alpha"].name = "<script>alert(1)</script>"
    db.commit()
    html = client.get(PAGE).text
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # table + 3 plots


def test_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/") and p != "/healthz"]


def test_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/segarena.css")
    assert response.status_code == 200 and "caption" in response.text
