"""``segarena leaderboard``: a phase's ranking as a table, JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from challenge.cli.client import Api, ApiError, JsonOption, TokenOption, UrlOption, resolve_phase
from challenge.cli.output import fail, note, out, print_data, print_json, when
from challenge.cli.sanitize import shown


def _fmt(value: Any, precision: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return f"{value:.{precision}f}"
    return shown(str(value))


def _with_interval(value: Any, interval: Any, precision: int) -> str:
    """A reference row's aggregate with its bootstrap interval in brackets, when it has one."""
    if not isinstance(interval, list) or len(interval) != 2:
        return _fmt(value, precision)
    return (f"{_fmt(value, precision)} [{_fmt(interval[0], precision)}–"
            f"{_fmt(interval[1], precision)}]")


def _fetch(api: Api, path: str, phase_id: int) -> Any:
    try:
        return api.request("GET", path, auth=False, handle={"not_found"})
    except ApiError as exc:
        if exc.message == "Not Found":  # the route itself is missing, not the phase
            fail(f"this server has no leaderboard endpoint (GET /api/v1{path} answered 404); "
                 "upgrade the server")
        fail(f"no leaderboard for phase {phase_id}: {exc.message}")


def leaderboard(
    phase: Annotated[str, typer.Argument(help="'challenge-slug/phase-slug' or a numeric id")],
    csv: Annotated[bool, typer.Option("--csv", help="print the server's CSV export")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """The ranking of a phase, with the config hash, evaluator version and dataset checksum."""
    if csv and json:
        fail("choose one of --json and --csv")
    show_leaderboard(Api(url, token), phase, csv=csv, as_json=json)


def show_leaderboard(api: Api, phase: str, *, csv: bool = False, as_json: bool = False) -> None:
    """Print the leaderboard of ``phase`` ('challenge/phase' or an id): the server's CSV, its
    JSON, or a table with the provenance line."""
    target = resolve_phase(api, phase)
    if csv:
        response = _fetch(api, f"/phases/{target['id']}/leaderboard.csv", target["id"])
        print_data(response.text)
        return
    board = api.json(_fetch(api, f"/phases/{target['id']}/leaderboard", target["id"]))
    if as_json:
        print_json(board)
        return
    precision = int(((target.get("config") or {}).get("ranking") or {}).get("precision", 3))
    metrics = board.get("metrics") or []
    table = Table(title=f"leaderboard of {shown(target['challenge_slug'])}/"
                        f"{shown(target['slug'])}")
    table.add_column("rank", justify="right")
    table.add_column("team")
    for m in metrics:
        arrow = "↑" if m.get("higher_is_better", True) else "↓"
        table.add_column(f"{shown(m.get('label') or m['name'])} {arrow}", justify="right")
    for column in ("missing", "rank 95% CI", "submission", "submitted"):
        table.add_column(column, justify="right")
    for row in board.get("rows") or []:
        scores = row.get("scores") or {}
        interval = row.get("rank_interval")
        table.add_row(str(row["rank"]), shown(str(row["team"])),
                      *[_fmt(scores.get(m["name"]), precision) for m in metrics],
                      str(row.get("n_missing", 0)),
                      f"{interval[0]}–{interval[1]}" if interval else "-",
                      str(row.get("submission_id", "-")), when(row.get("submitted_at")))
    references = board.get("reference_rows") or []
    if references:
        table.add_section()
    for ref in references:
        scores, intervals = ref.get("scores") or {}, ref.get("intervals") or {}
        table.add_row("ref", f"rater {shown(str(ref['rater']))} (vs. others)",
                      *[_with_interval(scores.get(m["name"]), intervals.get(m["name"]),
                                       precision) for m in metrics],
                      "-", "not ranked", "-", "human baseline", style="italic")
    console = out()
    if not board.get("rows") and not references:
        note("no ranked submissions yet")
    else:
        console.print(table)
    console.print(f"[dim]config {shown(str(board.get('config_hash', '-'))[:12])} · evaluator "
                  f"{shown(str(board.get('evaluator_version', '-')))} · dataset "
                  f"{shown(str(board.get('dataset_checksum', '-'))[:12])} · computed "
                  f"{when(board.get('computed_at'))}[/]", soft_wrap=True)
