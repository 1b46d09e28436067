"""``segarena challenge``: create from a YAML spec, list, show, publish."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from challenge.cli.client import (
    ANY_ERROR,
    Api,
    ApiError,
    JsonOption,
    LimitOption,
    TokenOption,
    UrlOption,
)
from challenge.cli.output import err, fail, note, out, print_json, success, when
from challenge.cli.sanitize import shown
from challenge.cli.spec import ChallengeSpec, SpecError, load_spec

challenge_app = typer.Typer(help="Create and inspect challenges.", no_args_is_help=True)


def _load(path: Path) -> ChallengeSpec:
    try:
        return load_spec(path)
    except SpecError as exc:
        for line in exc.lines():
            err().print(f"[bold red]error:[/] {shown(line)}", soft_wrap=True)
        fail(f"{path} is not a valid challenge spec ({len(exc.problems)} problem"
             f"{'s' if len(exc.problems) != 1 else ''}); nothing was sent to the server")


def _datasets_by_name(api: Api, slug: str) -> dict[str, int]:
    return {d["name"]: d["id"] for d in api.get_all(f"/challenges/{slug}/datasets")}


def _existing(api: Api, slug: str) -> tuple[dict[str, Any] | None, set[str]]:
    """The challenge and its phase slugs, or (None, empty) when there is no such challenge."""
    try:
        challenge = api.get(f"/challenges/{slug}", handle={"not_found"})
    except ApiError:
        return None, set()
    return challenge, {p["slug"] for p in api.get(f"/challenges/{slug}/phases")}


@challenge_app.command("create")
def create(
    spec_path: Annotated[Path, typer.Option("--spec", help="challenge YAML spec "
                                            "(see examples/challenge.yaml)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate the spec only")] = False,
    update: Annotated[bool, typer.Option(
        "--update", help="when the challenge exists, add the spec's phases it lacks "
                         "(existing phases are left unchanged)")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Create a challenge and its phases from a YAML spec (validated locally first).

    The challenge is published, when the spec says so, only after every phase exists. A phase's
    `dataset: NAME` is attached when the challenge has a dataset of that name (with --update,
    after `segarena dataset upload`).
    """
    spec = _load(spec_path)
    if dry_run:
        success(f"{shown(str(spec_path))} is valid: challenge [bold]{spec.slug}[/] with "
                f"{len(spec.phases)} phase(s)")
        return
    api = Api(url, token)
    challenge, present = _existing(api, spec.slug) if update else (None, set())
    if challenge is None:
        challenge = api.post("/challenges", json={"slug": spec.slug, "title": spec.title,
                                                  "description": spec.description,
                                                  "is_published": False})
    phases = _create_phases(api, spec, _datasets_by_name(api, spec.slug), present)
    if spec.published and not challenge["is_published"]:
        challenge = api.patch(f"/challenges/{spec.slug}", json={"is_published": True})
    if json:
        print_json({"challenge": challenge, "phases": phases})
        return
    added = ", ".join(
        f"{shown(p['slug'])} (id {p['id']}"
        + (f", dataset {shown(p['dataset']['name'])})" if p.get("dataset") else ")")
        for p in phases) or "none"
    success(f"{'updated' if present else 'created'} challenge [bold]{shown(spec.slug)}[/] "
            f"({'published' if challenge['is_published'] else 'not published'}); new phases: "
            f"{added}")


@challenge_app.command("list")
def list_(limit: LimitOption = None, url: UrlOption = None, token: TokenOption = None,
          json: JsonOption = False) -> None:
    """Published challenges, and the unpublished ones you organize; newest first."""
    api = Api(url, token)
    items = api.get_all("/challenges", limit=limit, auth=False)
    items.note_if_cut()
    if json:
        print_json(items)
        return
    if not items:
        note("no challenges visible to you")
        return
    table = Table(title="challenges")
    for column in ("slug", "title", "published", "created"):
        table.add_column(column)
    for c in items:
        table.add_row(shown(c["slug"]), shown(c["title"]), "yes" if c["is_published"] else "no",
                      when(c["created_at"]))
    out().print(table)


def _create_phases(api: Api, spec: ChallengeSpec, datasets: dict[str, int],
                   present: set[str]) -> list[dict[str, Any]]:
    """Create the spec's phases the challenge lacks (``present`` are left unchanged), in spec
    order; a refused phase stops with what exists so far and how to resume (--update)."""
    phases: list[dict[str, Any]] = []
    for phase in spec.phases:
        if phase.slug in present:
            note(f"phase {phase.slug} exists already; left unchanged")
            continue
        dataset_id = datasets.get(phase.dataset) if phase.dataset else None
        try:
            created = api.post(f"/challenges/{spec.slug}/phases",
                               json=phase.create_body(dataset_id), handle=ANY_ERROR)
        except ApiError as exc:
            done = ", ".join(sorted(present | {p["slug"] for p in phases})) or "none"
            fail(f"phase {phase.slug!r}: {exc.describe()}",
                 hint=f"challenge {spec.slug!r} exists with phases: {done}; fix the spec and "
                      "run again with --update")
        phases.append(created)
        if phase.dataset and dataset_id is None:
            note(f"phase {phase.slug}: dataset {phase.dataset!r} is not uploaded yet; attach it "
                 f"with `segarena dataset upload {spec.slug} DIR --name {phase.dataset} "
                 f"--attach {phase.slug}`")
    return phases


def _phase_row(p: dict[str, Any], by_id: dict[int, str]) -> list[str]:
    config = p.get("config") or {}
    metrics = config.get("metrics")
    ranking = config.get("ranking") or {}
    dataset = p.get("dataset")
    return [shown(p["slug"]), str(p["id"]), p["status"], when(p["opens_at"]),
            when(p["closes_at"]), f"{p['visibility']}/{p['leaderboard_visibility']}",
            shown(by_id.get(p["parent_phase_id"], "-")) if p["parent_phase_id"] else "-",
            shown(f"{dataset['name']} ({dataset['n_cases']} cases)") if dataset else "-",
            shown(metrics if isinstance(metrics, str) else "custom"),
            shown(str(ranking.get("method", "-")))]


@challenge_app.command("show")
def show(slug: str, url: UrlOption = None, token: TokenOption = None,
         json: JsonOption = False) -> None:
    """A challenge with its phases (schedule, visibility, dataset, metrics, ranking)."""
    api = Api(url, token)
    challenge = api.get(f"/challenges/{slug}", auth=False)
    phases = api.get(f"/challenges/{slug}/phases", auth=False)
    if json:
        print_json({"challenge": challenge, "phases": phases})
        return
    console = out()
    console.print(f"[bold]{shown(challenge['title'])}[/] ({shown(challenge['slug'])}, "
                  f"{'published' if challenge['is_published'] else 'not published'})")
    if challenge["description"]:
        console.print(shown(challenge["description"].strip()))
    table = Table(title="phases")
    for column in ("phase", "id", "status", "opens", "closes", "visibility/leaderboard",
                   "requires", "dataset", "metrics", "ranking"):
        table.add_column(column)
    by_id = {p["id"]: p["slug"] for p in phases}
    for p in phases:
        table.add_row(*_phase_row(p, by_id))
    console.print(table)


def _set_published(slug: str, value: bool, url: str | None, token: str | None) -> None:
    challenge = Api(url, token).patch(f"/challenges/{slug}", json={"is_published": value})
    success(f"challenge [bold]{shown(challenge['slug'])}[/] is "
            f"{'published' if challenge['is_published'] else 'not published'}")


@challenge_app.command("publish")
def publish(slug: str, url: UrlOption = None, token: TokenOption = None) -> None:
    """Make a challenge visible to everyone (phases keep their own visibility)."""
    _set_published(slug, True, url, token)


@challenge_app.command("unpublish")
def unpublish(slug: str, url: UrlOption = None, token: TokenOption = None) -> None:
    """Hide a challenge from everyone but its organizers."""
    _set_published(slug, False, url, token)
