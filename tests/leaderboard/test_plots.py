"""The SVG plots: well-formed, with text alternatives, drawing what the data say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from leaderboard import plots

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_score_distribution_has_one_box_per_team_and_marks_missing_cases() -> None:
    svg = plots.score_distribution(
        "d", ["A", "B"], {"A": [0.8, 0.6, 0.7, 0.9], "B": [0.7, 0.7, 0.7, 0.0]},
        {"A": [], "B": [3]}, "Dice", True, show_points=True)
    root = _parse(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "d-title d-desc"
    assert root.find("s:title", NS).text.startswith("Distribution of Dice")  # type: ignore[union-attr]
    desc = root.find("s:desc", NS).text  # type: ignore[union-attr]
    assert "A: median 0.75, quartiles 0.675–0.825" in desc and "B: median 0.7" in desc
    assert "1 missing" in desc
    assert len(root.findall(".//s:g[@class='box']", NS)) == 2
    points = root.findall(".//s:g[@class='points']", NS)
    assert sum(len(g.findall("s:circle", NS)) for g in points) == 7  # 8 cases, 1 missing
    assert sum(len(g.findall("s:path", NS)) for g in points) == 1


def test_score_distribution_without_points_draws_no_case() -> None:
    svg = plots.score_distribution("d", ["A"], {"A": [0.1, 0.2]}, {"A": []}, "Dice", True,
                                   show_points=False)
    assert _parse(svg).findall(".//s:g[@class='points']", NS) == []


def test_rank_blobs_draw_one_circle_per_observed_rank_with_area_by_frequency() -> None:
    freq = {"A": {"1": 75, "2": 25}, "B": {"1": 25, "2": 75}}
    svg = plots.rank_blobs("b", ["A", "B"], freq, {"A": (1, 2, 1.0), "B": (1, 2, 2.0)}, 100)
    circles = _parse(svg).findall("s:circle", NS)
    radii = sorted(float(c.get("r")) for c in circles)  # type: ignore[arg-type]
    assert len(circles) == 4
    # area proportional to frequency: r(75) / r(25) = sqrt(3)
    assert abs(radii[-1] / radii[0] - 3 ** 0.5) < 1e-2


def test_significance_heatmap_darkens_exactly_the_significant_cells() -> None:
    better = [[False, True, True], [False, False, True], [False, False, False]]
    svg = plots.significance_heatmap("s", ["A", "B", "C"], better, "Dice", 0.05)
    root = _parse(svg)
    cells = [r for r in root.findall("s:rect", NS) if r.get("width") == r.get("height")]
    dark = [r for r in cells if r.get("fill") == plots.ACCENT and r.get("width") != "12"]
    assert len(dark) == 3
    assert "A beats B, C; B beats C; C beats no team" in root.find("s:desc", NS).text  # type: ignore[union-attr]


def test_user_text_is_escaped() -> None:
    svg = plots.significance_heatmap("s", ["<b>&", "x"], [[False, False], [False, False]],
                                     "Dice", 0.05)
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    _parse(svg)
