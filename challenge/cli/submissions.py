"""``segarena submit`` and ``segarena status``: send an image archive, follow its evaluation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from challenge.cli.client import (
    Api,
    ApiError,
    JsonOption,
    LimitOption,
    Listing,
    TokenOption,
    UrlOption,
    file_chunks,
    resolve_phase,
)
from challenge.cli.output import (
    TERMINAL_STATES,
    err,
    fail,
    note,
    out,
    print_json,
    print_text,
    state_text,
    success,
    when,
)
from challenge.cli.sanitize import shown

PhaseArgument = Annotated[str, typer.Argument(
    help="'challenge-slug/phase-slug' or a numeric phase id")]


def submit(
    phase: PhaseArgument,
    archive: Annotated[Path, typer.Argument(help="a `docker save` archive (tar or tar.gz)")],
    comment: Annotated[str, typer.Option(help="a note for your team")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Submit an algorithm image to a phase; prints the submission id, digest and state."""
    if not archive.is_file():
        fail(f"{archive} is not a file; create one with `docker save IMAGE -o image.tar`")
    api = Api(url, token)
    target = resolve_phase(api, phase)
    name = f"{target['challenge_slug']}/{target['slug']}"
    # Cheap checks before sending what may be gigabytes; the server checks all again.
    if target.get("status") not in (None, "open"):
        fail(f"phase {name} is {target['status']} (opens {when(target.get('opens_at'))}, "
             f"closes {when(target.get('closes_at'))}); nothing was uploaded")
    quota = api.get(f"/phases/{target['id']}/quota")
    if quota["total_used"] >= quota["total_limit"] or \
            quota["per_day_used"] >= quota["per_day_limit"]:
        fail(f"your team has no submission left in {name}: {quota['per_day_used']}/"
             f"{quota['per_day_limit']} in the last 24 h, {quota['total_used']}/"
             f"{quota['total_limit']} in total; nothing was uploaded")
    size = archive.stat().st_size
    submission = api.upload(f"/phases/{target['id']}/submissions", file_chunks(archive),
                            total=size, content_length=size, description=f"uploading "
                            f"{archive.name}", params={"comment": comment} if comment else None)
    if json:
        print_json(submission)
        return
    evaluation = submission.get("evaluation") or {}
    position = evaluation.get("queue_position")
    success(f"submission [bold]{submission['id']}[/] to "
            f"{shown(target['challenge_slug'])}/{shown(target['slug'])}")
    console = out()
    console.print(f"image digest: {shown(submission['image_digest'])}", soft_wrap=True)
    console.print(f"evaluation: {state_text(evaluation.get('state'))}"
                  + (f" (queue position {position})" if position is not None else ""))
    console.print(f"follow it with `segarena status {submission['phase_id']} --submission "
                  f"{submission['id']} --watch`", soft_wrap=True)


def _failure(evaluation: dict[str, Any]) -> str:
    category = evaluation.get("failure_category")
    message = evaluation.get("failure_message")
    if not category and not message:
        return ""
    return shown(": ".join(p for p in (category, message) if p))


def _table(submissions: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "team", "submitted", "state", "queue", "cases", "failure", "image",
                   "comment"):
        table.add_column(column, overflow="fold")
    for s in submissions:
        ev = s.get("evaluation") or {}
        cases = f"{ev['cases_done']}/{ev['cases_total']}" if ev else "-"
        position = ev.get("queue_position")
        table.add_row(str(s["id"]), shown(s["team_name"]), when(s["created_at"]),
                      state_text(ev.get("state")), str(position) if position is not None
                      else "-", cases, _failure(ev), shown(s["image_digest"][:19]),
                      shown(s["comment"]))
    return table


def _finished(submissions: list[dict[str, Any]]) -> bool:
    return all((s.get("evaluation") or {}).get("state", "succeeded") in TERMINAL_STATES
               for s in submissions)


def status(
    phase: Annotated[str | None, typer.Argument(
        help="'challenge-slug/phase-slug' or a numeric phase id", show_default=False)] = None,
    submission: Annotated[int | None, typer.Option(
        "--submission", help="show only this submission")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="refresh until every evaluation "
                                        "has finished")] = False,
    interval: Annotated[float, typer.Option(help="seconds between refreshes with --watch",
                                            min=0.2)] = 5.0,
    limit: LimitOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Your team's submissions (oldest first) and their evaluations (state, queue, progress,
    failure); every one unless ``--limit`` caps them."""
    if phase is None and submission is None:
        fail("give a PHASE (challenge-slug/phase-slug or id) or --submission ID")
    api = Api(url, token)
    if submission is not None:
        title = f"submission {submission}"

        def fetch() -> Listing:
            return Listing([api.get(f"/submissions/{submission}")], complete=True)
    else:
        assert phase is not None
        target = resolve_phase(api, phase)
        title = f"submissions to {shown(target['challenge_slug'])}/{shown(target['slug'])}"

        def fetch() -> Listing:
            return api.get_all(f"/phases/{target['id']}/submissions", limit=limit)

    items = fetch()
    items.note_if_cut()
    if watch and not _finished(items):
        # With --json the live table goes to stderr so stdout stays one JSON document.
        console = err() if json else out()
        with Live(_table(items, title), console=console, auto_refresh=False) as live:
            while not _finished(items):
                time.sleep(interval)
                items = fetch()
                live.update(_table(items, title), refresh=True)
        if not json:
            return
    if json:
        print_json(items)
        return
    if not items:
        note(f"no submissions yet for {title.removeprefix('submissions to ')}")
        return
    out().print(_table(items, title))


def logs(
    evaluation: Annotated[int, typer.Argument(help="evaluation id (see `segarena status`)")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Container logs of an evaluation: organizers the whole size-capped log, a team the log
    tail of its own evaluation when the phase allows log tails.

    Organizers: every line a container wrote starts with ``container| ``. A team: the last
    characters its container printed, no platform line. Control characters are shown
    escaped, never sent to the terminal."""
    api = Api(url, token)
    try:
        response = api.request("GET", f"/evaluations/{evaluation}/log",
                               handle={"logs_are_private"})
    except ApiError:
        _team_tail(api, evaluation)
        return
    print_text(response.text)  # container lines arrive marked ``container| `` by the worker


def _team_tail(api: Api, evaluation: int) -> None:
    """Print the ``log_tail`` of ``GET /evaluations/{id}`` (the team's view), or fail with
    ``logs_are_private`` when the phase gives the caller none."""
    detail = api.json(api.request("GET", f"/evaluations/{evaluation}"))
    tail = detail.get("log_tail")
    if tail is None:
        fail("this phase shows container logs to its organizers only (logs_are_private)",
             hint="the failure category in `segarena status` says what went wrong")
    if not tail:
        note(f"evaluation {evaluation}: the container has printed nothing")
        return
    note(f"evaluation {evaluation}: the end of what the container printed")
    print_text(tail)


def cancel(
    evaluation: Annotated[int, typer.Argument(help="evaluation id (see `segarena status`)")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Cancel a queued or running evaluation (your team's, or any as an organizer).

    Cancelling refunds the submission only while none of its cases has been scored; once one
    has, the submission stays charged.
    """
    body = Api(url, token).post(f"/evaluations/{evaluation}/cancel")
    success(f"evaluation {evaluation}: {body['state']}"
            f"{' (stopping)' if body['state'] not in TERMINAL_STATES else ''}")
