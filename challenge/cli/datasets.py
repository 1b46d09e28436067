"""``segarena dataset``: upload a hidden test set (checked locally first) and list datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from challenge.cli.client import Api, JsonOption, LimitOption, TokenOption, UrlOption
from challenge.cli.headers import findings, report
from challenge.cli.layout import LayoutError, check_layout, tar_stream
from challenge.cli.output import err, fail, note, out, print_json, size, success, when
from challenge.cli.sanitize import shown
from challenge.core.text import DATASET_NAME

dataset_app = typer.Typer(help="Upload and list hidden test sets (organizers).",
                          no_args_is_help=True)


def _phase_ids(api: Api, challenge: str, slugs: list[str]) -> dict[str, int]:
    phases = {p["slug"]: p["id"] for p in api.get(f"/challenges/{challenge}/phases")}
    unknown = [s for s in slugs if s not in phases]
    if unknown:
        fail(f"challenge {challenge!r} has no phase {', '.join(map(repr, unknown))} "
             f"(phases: {', '.join(phases) or 'none'}); nothing was uploaded")
    return {s: phases[s] for s in slugs}


def _check_identifiers(files: list[tuple[Path, str]], strip: bool) -> None:
    """Refuse before streaming when a header carries identifying content (the server would
    refuse it too) and ``strip`` is off; with ``strip``, say which files the server strips."""
    found, unreadable = findings(files)
    if unreadable or (found and not strip):
        report(found, unreadable)
        fail(f"{len(found) + len(unreadable)} file(s) carry identifying header content or "
             "cannot be read; nothing was uploaded",
             hint="see `segarena dataset check DIR`, or pass --strip-identifiers")
    if found:
        note(f"the server will strip identifying header content from {len(found)} file(s)")


@dataset_app.command("upload")
def upload(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    directory: Annotated[Path, typer.Argument(
        help="folder with inputs/<case>/<channel>.nii.gz and references/<case>.nii.gz")],
    name: Annotated[str, typer.Option("--name", help="dataset name, unique in the challenge")],
    attach: Annotated[list[str] | None, typer.Option(
        "--attach", help="phase slug to score against this dataset (repeatable)")] = None,
    strip_identifiers: Annotated[bool, typer.Option(
        "--strip-identifiers", help="let the server store copies without the NIfTI header "
        "fields and extensions that can identify a patient (refused otherwise)")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Check the folder, stream it as a tar.gz to the server, then attach it to phases.

    The reference masks are stored on the server and never served back by any endpoint.
    Files whose headers carry identifying content (see `segarena dataset check`) are refused
    here, before anything is sent, unless --strip-identifiers.
    """
    if not DATASET_NAME.matches(name):
        fail(f"invalid --name {name!r}: {DATASET_NAME.description}")
    try:
        layout = check_layout(directory)
    except LayoutError as exc:
        for problem in exc.problems:
            err().print(f"[bold red]error:[/] {shown(problem)}", soft_wrap=True)
        fail(f"{directory} does not have the dataset layout; nothing was uploaded")
    for skipped in layout.skipped:
        note(f"[dim]skipping hidden file {shown(skipped)}[/]")
    _check_identifiers(layout.files, strip_identifiers)
    api = Api(url, token)
    # Fail before streaming what may be gigabytes: organizer rights, name, phases.
    existing = {d["name"] for d in api.get_all(f"/challenges/{challenge}/datasets")}
    if name in existing:
        fail(f"challenge {challenge!r} has a dataset {name!r} already; choose another --name "
             "(nothing was uploaded)")
    phase_ids = _phase_ids(api, challenge, attach or [])
    note(f"{len(layout.cases)} cases, channels {', '.join(layout.channels)}, "
         f"{size(layout.total_bytes)}")
    counter = [0]
    last = [0]

    def consumed(_: bytes) -> int:
        delta, last[0] = counter[0] - last[0], counter[0]
        return delta

    dataset = api.upload(f"/challenges/{challenge}/datasets", tar_stream(layout, counter),
                         total=layout.total_bytes, description=f"uploading {name}",
                         params={"name": name, "strip_identifiers": strip_identifiers},
                         measure=consumed)
    attached: list[dict[str, Any]] = []
    for phase_id in phase_ids.values():
        attached.append(api.patch(f"/phases/{phase_id}", json={"dataset_id": dataset["id"]}))
    if json:
        print_json({"dataset": dataset, "attached": attached})
        return
    success(f"uploaded dataset [bold]{shown(dataset['name'])}[/] (id {dataset['id']}): "
            f"{dataset['n_cases']} cases, channels {', '.join(dataset['channels'])}, "
            f"checksum {dataset['checksum'][:16]}")
    for phase in attached:
        success(f"attached to phase [bold]{shown(phase['slug'])}[/] (config version "
                f"{phase['config_version']}, hash {phase['config_hash'][:12]})")


@dataset_app.command("list")
def list_(challenge: Annotated[str, typer.Argument(help="challenge slug")],
          limit: LimitOption = None, url: UrlOption = None, token: TokenOption = None,
          json: JsonOption = False) -> None:
    """The datasets of a challenge (organizers only), oldest first."""
    items = Api(url, token).get_all(f"/challenges/{challenge}/datasets", limit=limit)
    items.note_if_cut()
    if json:
        print_json(items)
        return
    if not items:
        note(f"challenge {shown(challenge)} has no datasets yet")
        return
    table = Table(title=f"datasets of {shown(challenge)}")
    for column in ("id", "name", "cases", "channels", "size", "checksum", "uploaded"):
        table.add_column(column)
    for d in items:
        table.add_row(str(d["id"]), shown(d["name"]), str(d["n_cases"]),
                      shown(", ".join(d["channels"])), size(d["size_bytes"]),
                      d["checksum"][:16], when(d["created_at"]))
    out().print(table)
