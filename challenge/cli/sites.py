"""``segarena site``, ``segarena site-worker`` and the manifest commands of ``segarena dataset``:
evaluation where the hidden cases live (DESIGN section 9)."""

from __future__ import annotations

import json as jsonlib
import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from challenge.cli.client import Api, JsonOption, TokenOption, UrlOption, resolve_phase
from challenge.cli.datasets import dataset_app
from challenge.cli.layout import LayoutError, check_layout
from challenge.cli.output import err, fail, note, out, print_json, success, when
from challenge.cli.sanitize import shown
from challenge.core.text import DATASET_NAME

site_app = typer.Typer(help="Evaluation sites: a phase evaluated where its data lives "
                            "(organizers).", no_args_is_help=True)
DEFAULT_MAX_VOXELS = 512 * 512 * 512


@site_app.command("create")
def create(phase: Annotated[str, typer.Argument(help="challenge-slug/phase-slug or phase id")],
           name: Annotated[str, typer.Argument(help="the site's name, e.g. the hospital")],
           url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """Register an evaluation site for a phase; prints its token once."""
    api = Api(url, token)
    phase_id = resolve_phase(api, phase)["id"]
    site = api.post(f"/phases/{phase_id}/sites", json={"name": name})
    if json:
        print_json(site)
        return
    success(f"site [bold]{shown(site['name'])}[/] (id {site['id']}) registered for phase "
            f"{phase_id}")
    out().print("site token (shown only this once; give it to the site operator for "
                "`segarena site-worker`):")
    typer.echo(site["token"])


@site_app.command("list")
def list_(phase: Annotated[str, typer.Argument(help="challenge-slug/phase-slug or phase id")],
          url: UrlOption = None, token: TokenOption = None, json: JsonOption = False) -> None:
    """The evaluation sites of a phase."""
    api = Api(url, token)
    items = api.get(f"/phases/{resolve_phase(api, phase)['id']}/sites")
    if json:
        print_json(items)
        return
    table = Table(title="evaluation sites")
    for column in ("id", "name", "created", "last seen", "worker", "revoked"):
        table.add_column(column)
    for s in items:
        table.add_row(str(s["id"]), shown(s["name"]), when(s["created_at"]),
                      when(s["last_seen_at"]), shown(s["worker_version"] or "-"),
                      when(s["revoked_at"]) if s["revoked_at"] else "no")
    out().print(table)


@site_app.command("revoke")
def revoke(site_id: Annotated[int, typer.Argument(help="site id (segarena site list)")],
           url: UrlOption = None, token: TokenOption = None) -> None:
    """Revoke a site's token: its worker can lease nothing more."""
    api = Api(url, token)
    site = api.json(api.request("DELETE", f"/sites/{site_id}"))
    success(f"site [bold]{shown(site['name'])}[/] (id {site['id']}) revoked")


def _layout_or_fail(directory: Path) -> Any:
    try:
        return check_layout(directory)
    except LayoutError as exc:
        for problem in exc.problems:
            err().print(f"[bold red]error:[/] {shown(problem)}", soft_wrap=True)
        fail(f"{directory} does not have the dataset layout")


@dataset_app.command("manifest")
def manifest(directory: Annotated[Path, typer.Argument(
        help="folder with inputs/<case>/<channel>.nii.gz and references/<case>.nii.gz")],
        max_voxels: Annotated[int, typer.Option(help="largest volume accepted")] = (
            DEFAULT_MAX_VOXELS)) -> None:
    """Print the manifest of a dataset folder (JSON: case ids, channels, grids, checksums;
    no voxel, no path). Runs locally; nothing is sent."""
    from challenge.datasets.manifest import compute
    from evaluator.io import NiftiError

    layout = _layout_or_fail(directory)
    try:
        result = compute(directory, case_ids=layout.cases, channels=layout.channels,
                         max_voxels=max_voxels)
    except (NiftiError, ValueError) as exc:
        fail(f"cannot compute the manifest: {shown(str(exc))}")
    typer.echo(result.model_dump_json(indent=1))


@dataset_app.command("register-manifest")
def register_manifest(
    challenge: Annotated[str, typer.Argument(help="challenge slug")],
    manifest_file: Annotated[Path, typer.Argument(help="manifest.json (segarena dataset "
                                                       "manifest)")],
    name: Annotated[str, typer.Option("--name", help="dataset name, unique in the challenge")],
    attach: Annotated[list[str] | None, typer.Option(
        "--attach", help="phase slug (with an evaluation site) to score against it")] = None,
    url: UrlOption = None, token: TokenOption = None, json: JsonOption = False,
) -> None:
    """Register a dataset by its manifest only; its files stay at the evaluation site."""
    if not DATASET_NAME.matches(name):
        fail(f"invalid --name {name!r}: {DATASET_NAME.description}")
    try:
        body = jsonlib.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read {manifest_file}: {exc}")
    api = Api(url, token)
    dataset = api.post(f"/challenges/{challenge}/datasets/manifest", json={**body, "name": name})
    phases = {p["slug"]: p["id"] for p in api.get(f"/challenges/{challenge}/phases")}
    attached = []
    for slug in attach or []:
        if slug not in phases:
            fail(f"challenge {challenge!r} has no phase {slug!r}")
        attached.append(api.patch(f"/phases/{phases[slug]}", json={"dataset_id": dataset["id"]}))
    if json:
        print_json({"dataset": dataset, "attached": attached})
        return
    success(f"registered dataset [bold]{shown(dataset['name'])}[/] (id {dataset['id']}) by "
            f"manifest: {dataset['n_cases']} cases, checksum {dataset['checksum'][:16]}")
    for phase in attached:
        success(f"attached to phase [bold]{shown(phase['slug'])}[/]")


def site_worker(
    url: Annotated[str, typer.Option("--url", help="the platform's URL")],
    token: Annotated[str, typer.Option("--token", help="the site token",
                                       envvar="SEGARENA_SITE_TOKEN")],
    data: Annotated[Path, typer.Option("--data", help="folder with inputs/ and references/")],
    logs: Annotated[Path | None, typer.Option(
        "--logs", help="where container logs are kept [default: DATA/../segarena-site-logs]")]
    = None,
    work: Annotated[Path | None, typer.Option(
        "--work", help="scratch folder for archives and runs [default: a temporary folder]")]
    = None,
    instance: Annotated[str, typer.Option(help="label of this site's containers")] = "",
    poll_seconds: Annotated[float, typer.Option(help="wait between empty leases")] = 5.0,
    once: Annotated[bool, typer.Option(help="evaluate at most one job, then exit")] = False,
    max_voxels: Annotated[int, typer.Option(help="largest volume read")] = DEFAULT_MAX_VOXELS,
) -> None:
    """Evaluate a phase's submissions on this machine, with its own Docker engine: lease,
    run the sandbox, score, post metrics. Data, outputs and logs stay here."""
    from challenge.sites.site_worker import SiteApi, SiteWorker
    from evaluator.sandbox.docker import DockerExecutor

    if not (data / "inputs").is_dir() or not (data / "references").is_dir():
        fail(f"{data} must hold inputs/ and references/")
    scratch = work or Path(tempfile.mkdtemp(prefix="segarena-site-"))
    worker = SiteWorker(api=SiteApi(url, token), data_dir=data.resolve(), work_dir=scratch,
                        logs_dir=logs or data.resolve().parent / "segarena-site-logs",
                        executor_factory=DockerExecutor, max_voxels=max_voxels,
                        instance=instance)
    removed = worker.remove_leftovers()
    if removed:
        note(f"removed {removed} container(s) a previous run left behind")
    if once:
        state = worker.run_once()
        note(f"job ended: {state}" if state else "no job (or the lease was lost)")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    note(f"site worker polling {url} every {poll_seconds:g} s (Ctrl-C to stop)")
    try:
        worker.run_forever(stop, poll_seconds)
    except KeyboardInterrupt:
        stop.set()
