"""Inline SVG plots of a leaderboard, written directly (no plotting dependency, no script).

Each function returns one ``<svg>`` string with ``role="img"``, a ``<title>`` and a ``<desc>``
(the text alternative) and ``aria-labelledby`` pointing at both. Every text that comes from a
user (team names) is XML-escaped here.

- ``score_distribution``: per team (leaderboard order) a horizontal box plot of the primary
  metric over cases (quartiles, median, whiskers to the most extreme values within 1.5 IQR,
  mean as a diamond; missing cases counted at their filled-in worst value), optionally with
  every case as a dot (missing ones as crosses). Only where per-case scores are shown to the
  reader (``challenge.visibility.ResultView.per_case_plot``): quartiles, whiskers and the axis
  range give per-case values away, every one of them with few cases.
- ``score_aggregates``: where per-case scores are not shown, one dot per team at its published
  aggregate of the primary metric; the axis spans those aggregates only.
- the rater band (several raters per case): both score plots take ``band`` = the lowest and
  highest aggregate of the human baseline's reference rows and draw it as a shaded vertical
  band behind the teams. Aggregates only, whatever the reader may see per case: no rater's
  per-case value is ever drawn.
- ``rank_blobs``: challengeR's blob plot: team x rank, circle area proportional to how often
  the team got that rank over the bootstrap samples, the median rank as a black bar and the
  2.5-97.5 % interval as a line.
- ``significance_heatmap``: teams x teams, a dark cell when the row team is significantly
  better than the column team (Holm-adjusted one-sided Wilcoxon).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np

FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
INK = "#1b1f24"
MUTED = "#57606a"
ACCENT = "#0a5291"
GRID = "#d0d7de"
MISSING = "#b3261e"


def _e(text: object) -> str:
    return escape(str(text), {'"': "&quot;"})


def _open(ident: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}" class="plot" role="img" '
            f'aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" {FONT} font-size="12" fill="{INK}">',
            f'<title id="{ident}-title">{_e(title)}</title>',
            f'<desc id="{ident}-desc">{_e(desc)}</desc>']


def _label_width(teams: Sequence[str]) -> float:
    return min(220.0, 16.0 + 7.0 * max((len(t) for t in teams), default=4))


def _short(name: str, limit: int = 30) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _value_grid(x: Callable[[float], float], lo: float, hi: float, top: float,
                bottom: float) -> list[str]:
    """SVG vertical grid lines from ``top - 6`` to ``bottom`` (pixels) at the ticks of
    [lo, hi], each labelled below ``bottom``; ``x`` maps a value to its pixel column."""
    return [f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 6}" y2="{bottom}" '
            f'stroke="{GRID}"/><text x="{x(tick):.1f}" y="{bottom + 16}" '
            f'text-anchor="middle" fill="{MUTED}">{tick:g}</text>'
            for tick in _ticks(lo, hi)]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + k * step, 10) for k in range(int((hi - start) / step + 1e-9) + 1)]


BAND = "#f2e3c6"


def _band(x: Callable[[float], float], band: tuple[float, float] | None, top: float,
          bottom: float) -> list[str]:
    """The rater band from ``band[0]`` to ``band[1]`` (metric units), ``top`` to ``bottom``
    (pixels), labelled "raters" above; nothing without a band."""
    if band is None or not all(math.isfinite(v) for v in band):
        return []
    left, right = sorted((x(band[0]), x(band[1])))
    return [f'<g class="rater-band"><rect x="{left - 1:.1f}" y="{top - 6:.1f}" '
            f'width="{right - left + 2:.1f}" height="{bottom - top + 6:.1f}" fill="{BAND}"/>'
            f'<text x="{(left + right) / 2:.1f}" y="{top - 10:.1f}" text-anchor="middle" '
            f'fill="{MUTED}">raters</text></g>']


def _band_desc(band: tuple[float, float] | None) -> str:
    return ("" if band is None else
            f"Shaded band: the human baseline, raters' aggregates from {min(band):.3g} to "
            f"{max(band):.3g}. ")


def score_distribution(ident: str, teams: Sequence[str], values: Mapping[str, Sequence[float]],
                       missing: Mapping[str, Sequence[int]], metric_label: str,
                       higher_is_better: bool, *, show_points: bool,
                       band: tuple[float, float] | None = None) -> str:
    """Box (and optionally strip) plot of one metric per team; ``teams`` in leaderboard order;
    ``band``: the raters' lowest and highest aggregate, drawn behind the boxes."""
    label_w, plot_w, row_h, top = _label_width(teams), 520.0, 26.0, 30.0
    width, height = label_w + plot_w + 30, top + row_h * len(teams) + 44
    arrays = {t: np.asarray([np.nan if v is None else v for v in values[t]], float)
              for t in teams}
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()] or [np.zeros(1)])
    if band is not None:
        finite = np.concatenate([finite, np.asarray(band, float)])
        finite = finite[np.isfinite(finite)]
    lo, hi = (0.0, 1.0) if finite.size == 0 else (float(finite.min()), float(finite.max()))
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    elif hi == lo:
        lo, hi = lo - 1, hi + 1

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    direction = "higher is better" if higher_is_better else "lower is better"
    summary = []
    out = _value_grid(x, lo, hi, top, top + row_h * len(teams))
    out += _band(x, band, top, top + row_h * len(teams))
    for i, team in enumerate(teams):
        a = arrays[team]
        a = a[np.isfinite(a)]
        cy = top + row_h * i + row_h / 2
        out.append(f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end">'
                   f'{_e(_short(team))}</text>')
        if a.size == 0:
            continue
        q1, med, q3 = np.quantile(a, (0.25, 0.5, 0.75))
        iqr = q3 - q1
        w_lo = min(float(a[a >= q1 - 1.5 * iqr].min()), q1)
        w_hi = max(float(a[a <= q3 + 1.5 * iqr].max()), q3)
        n_miss = len(missing.get(team, ()))
        summary.append(f"{team}: median {med:.3g}, quartiles {q1:.3g}–{q3:.3g}"
                       + (f", {n_miss} missing" if n_miss else ""))
        out.append(f'<g class="box"><line x1="{x(w_lo):.1f}" x2="{x(w_hi):.1f}" y1="{cy:.1f}" '
                   f'y2="{cy:.1f}" stroke="{MUTED}"/>'
                   f'<rect x="{x(q1):.1f}" y="{cy - 8:.1f}" width="{max(x(q3) - x(q1), 1):.1f}" '
                   f'height="16" fill="#dbe9f7" stroke="{ACCENT}"/>'
                   f'<line x1="{x(med):.1f}" x2="{x(med):.1f}" y1="{cy - 8:.1f}" '
                   f'y2="{cy + 8:.1f}" stroke="{ACCENT}" stroke-width="2.5"/>'
                   f'<path d="M{x(a.mean()):.1f},{cy - 5:.1f} l4,5 l-4,5 l-4,-5 z" '
                   f'fill="{INK}"/></g>')
        if show_points:
            miss = set(missing.get(team, ()))
            dots = []
            full = arrays[team]
            for k, v in enumerate(full):
                if not math.isfinite(v):
                    continue
                jitter = ((k * 0.618034) % 1.0 - 0.5) * 12
                if k in miss:
                    dots.append(f'<path d="M{x(v) - 3:.1f},{cy + jitter - 3:.1f} l6,6 m0,-6 '
                                f'l-6,6" stroke="{MISSING}" stroke-width="1.5"/>')
                else:
                    dots.append(f'<circle cx="{x(v):.1f}" cy="{cy + jitter:.1f}" r="2" '
                                f'fill="{INK}" fill-opacity="0.45"/>')
            out.append(f'<g class="points">{"".join(dots)}</g>')
    out.append(f'<text x="{label_w + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
               f'{_e(metric_label)} per case ({direction})</text>')
    title = f"Distribution of {metric_label} over the test cases, per team"
    desc = ("Box plots in leaderboard order: box = quartiles, bar = median, diamond = mean, "
            "whiskers to 1.5 IQR; missing cases count at their worst value. "
            + _band_desc(band) + "; ".join(summary))
    return "".join(_open(ident, width, height, title, desc) + out + ["</svg>"])


def score_aggregates(ident: str, teams: Sequence[str], scores: Mapping[str, float | None],
                     metric_label: str, aggregate: str, higher_is_better: bool, *,
                     band: tuple[float, float] | None = None) -> str:
    """A dot per team (``teams`` in leaderboard order) at ``scores[team]``, its published
    ``aggregate`` ("mean" or "median" over the cases) of one metric; a team without a value is
    labelled only. Nothing per case: no point, quartile, whisker, nor an axis stretched to an
    extreme case (the axis is [0, 1] when every aggregate lies in it, else their own range).
    ``band``: the raters' lowest and highest aggregate, drawn behind the dots."""
    label_w, plot_w, row_h, top = _label_width(teams), 520.0, 22.0, 30.0
    width, height = label_w + plot_w + 30, top + row_h * len(teams) + 44
    shown = [v for t in teams if (v := scores.get(t)) is not None and math.isfinite(v)]
    shown += [v for v in band or () if math.isfinite(v)]
    lo, hi = (min(shown), max(shown)) if shown else (0.0, 1.0)
    if lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    elif hi == lo:
        lo, hi = lo - 1, hi + 1
    else:
        pad = (hi - lo) * 0.05
        lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    out = _value_grid(x, lo, hi, top, top + row_h * len(teams))
    out += _band(x, band, top, top + row_h * len(teams))
    summary = []
    for i, team in enumerate(teams):
        cy = top + row_h * i + row_h / 2
        out.append(f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end">'
                   f'{_e(_short(team))}</text>')
        value = scores.get(team)
        if value is None or not math.isfinite(value):
            continue
        summary.append(f"{team}: {value:.3g}")
        out.append(f'<circle class="aggregate" cx="{x(value):.1f}" cy="{cy:.1f}" r="4.5" '
                   f'fill="{ACCENT}"/>')
    direction = "higher is better" if higher_is_better else "lower is better"
    out.append(f'<text x="{label_w + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
               f'{_e(aggregate)} {_e(metric_label)} over the test cases ({direction})</text>')
    title = f"{aggregate.capitalize()} {metric_label} of each team over the test cases"
    desc = (f"One dot per team in leaderboard order at its {aggregate} {metric_label}; "
            "per-case scores are not published. " + _band_desc(band) + "; ".join(summary))
    return "".join(_open(ident, width, height, title, desc) + out + ["</svg>"])


def rank_blobs(ident: str, teams: Sequence[str], frequencies: Mapping[str, Mapping[str, int]],
               intervals: Mapping[str, tuple[float, float, float]], n_boot: int) -> str:
    """challengeR's blob plot; ``intervals[team]`` = (q025, q975, median) of bootstrap ranks."""
    n = len(teams)
    cell, left, top, bottom = max(14.0, min(40.0, 560.0 / max(n, 1))), 44.0, 16.0, 10.0
    label_h = _label_width(teams) * 0.75
    width, height = left + cell * n + 20, top + cell * n + label_h + bottom

    def cx(i: int) -> float:
        return left + cell * (i + 0.5)

    def cy(r: float) -> float:
        return top + cell * (r - 0.5)

    out: list[str] = [f'<line x1="{left}" y1="{top}" x2="{left + cell * n}" y2="{top + cell * n}" '
                      f'stroke="{GRID}" stroke-dasharray="4 3"/>']
    for r in range(1, n + 1):
        if n <= 20 or r == 1 or r % 5 == 0:
            out.append(f'<text x="{left - 6}" y="{cy(r) + 4:.1f}" text-anchor="end" '
                       f'fill="{MUTED}">{r}</text>')
    out.append(f'<text transform="translate(12 {top + cell * n / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">rank</text>')
    summary = []
    for i, team in enumerate(teams):
        freq = frequencies.get(team, {})
        for rank_s, count in freq.items():
            radius = 0.5 * cell * math.sqrt(count / n_boot)
            out.append(f'<circle cx="{cx(i):.1f}" cy="{cy(int(rank_s)):.1f}" r="{radius:.2f}" '
                       f'fill="{ACCENT}" fill-opacity="0.75"/>')
        if team in intervals:
            lo, hi, med = intervals[team]
            out.append(f'<line x1="{cx(i):.1f}" x2="{cx(i):.1f}" y1="{cy(lo):.1f}" '
                       f'y2="{cy(hi):.1f}" stroke="{INK}" stroke-width="1"/>'
                       f'<line x1="{cx(i) - cell * 0.4:.1f}" x2="{cx(i) + cell * 0.4:.1f}" '
                       f'y1="{cy(med):.1f}" y2="{cy(med):.1f}" stroke="{INK}" '
                       f'stroke-width="2.5"/>')
            summary.append(f"{team}: median rank {med:g}, 95% of samples {lo:g}–{hi:g}")
        ty = top + cell * n + 8
        out.append(f'<text transform="translate({cx(i) + 4:.1f} {ty:.1f}) rotate(-60)" '
                   f'text-anchor="end">{_e(_short(team, 22))}</text>')
    title = f"Bootstrap rank distribution of each team ({n_boot} samples of the cases)"
    desc = ("Blob plot: circle area is proportional to how often a team (columns, leaderboard "
            "order) obtained each rank (rows); black bar = median rank, line = 2.5–97.5 % "
            "range. " + "; ".join(summary))
    return "".join(_open(ident, width, height, title, desc) + out + ["</svg>"])


def significance_heatmap(ident: str, teams: Sequence[str], better: Sequence[Sequence[bool]],
                         metric_label: str, alpha: float) -> str:
    """Dark cell (row, column) = row team significantly better than column team."""
    n = len(teams)
    cell = max(10.0, min(34.0, 560.0 / max(n, 1)))
    left = _label_width(teams)
    top = left * 0.75
    width, height = left + cell * n + 200, top + cell * n + 20
    lx = left + cell * n + 16
    out: list[str] = [f'<rect x="{lx}" y="{top}" width="12" height="12" fill="{ACCENT}"/>'
                      f'<text x="{lx + 18}" y="{top + 10}">significantly better</text>'
                      f'<rect x="{lx}" y="{top + 20}" width="12" height="12" fill="#e8eef5"/>'
                      f'<text x="{lx + 18}" y="{top + 30}">not significant</text>']
    wins = []
    for i, row_team in enumerate(teams):
        y = top + cell * i
        out.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">'
                   f'{_e(_short(row_team, 26))}</text>')
        beaten = []
        for j in range(n):
            fill = "#f6f8fa" if i == j else (ACCENT if better[i][j] else "#e8eef5")
            if better[i][j]:
                beaten.append(teams[j])
            out.append(f'<rect x="{left + cell * j:.1f}" y="{y:.1f}" width="{cell:.1f}" '
                       f'height="{cell:.1f}" fill="{fill}" stroke="#ffffff"/>')
        wins.append(f"{row_team} beats {', '.join(beaten) if beaten else 'no team'}")
    for j, team in enumerate(teams):
        x = left + cell * (j + 0.5)
        out.append(f'<text transform="translate({x + 4:.1f} {top - 6:.1f}) rotate(-60)" '
                   f'text-anchor="start">{_e(_short(team, 22))}</text>')
    title = (f"Pairwise significance on {metric_label}: row team significantly better than "
             f"column team (one-sided Wilcoxon, Holm-adjusted, alpha {alpha:g})")
    desc = "Dark cell = significant. " + "; ".join(wins)
    return "".join(_open(ident, width, height, title, desc) + out + ["</svg>"])
