"""``segarena demo``: a whole challenge on this machine, from a fresh checkout to a leaderboard.

Embedded default only: SQLite and storage under ``--data-dir``, the local Docker engine, the
API with in-process evaluation workers (uvicorn in a background thread). Everything the demo
does after bootstrapping the admin goes through the HTTP API with the CLI's own client, as an
organizer and three participant teams would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from challenge.cli.client import Api, ApiError, file_chunks
from challenge.cli.layout import check_layout, tar_stream
from challenge.cli.output import TERMINAL_STATES, err, fail, note, out, success
from challenge.cli.sanitize import shown
from evaluator.base_image import local_base_image

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "algorithms"
SLUG = "msles-demo"
SAMPLE_CASES = 2
#: Raters per hidden case: the test phase ranks against their strict majority and shows each
#: rater against the others as the human baseline.
HIDDEN_RATERS = 3
# team name -> example algorithm it submits
TEAMS = {"lesion-lab": "threshold", "quick-and-dirty": "threshold-crude",
         "brittle-bytes": "fragile"}
#: The participant whose web sign-in the demo prints, with the organizer's.
DEMO_PARTICIPANT = "lesion-lab"
LIMITS = {"wall_time_per_case_s": 120, "wall_time_per_submission_s": 1800, "memory_mb": 1024,
          "cpus": 1.0, "pids": 64, "output_mb": 16, "tmp_mb": 64}
RANKING = {"method": "aggregate_then_rank", "aggregate": "mean",
           "metrics": ["dice", "lesion_f1", "abs_volume_diff_ml"], "primary_metric": "dice",
           "precision": 3, "bootstrap_samples": 200}
NO_DOCKER = ("segarena demo needs a running Docker engine. Install it with "
             "`apt-get install docker.io` and start it with `dockerd &` (or "
             "`systemctl start docker`), or run ./scripts/provision.sh, which does both")


def _docker(base_image: str) -> Any:
    try:
        import docker

        client = docker.from_env(timeout=300)
        client.ping()
    except Exception as exc:  # no socket, no permission, no package: all mean "no engine"
        fail(f"{NO_DOCKER} ({exc.__class__.__name__}: {str(exc)[:200]})")
    try:
        client.images.get(base_image)
    except docker.errors.ImageNotFound:
        script = REPO / "scripts" / "provision.sh"
        how = f"SEGARENA_BASE_IMAGE={base_image} bash {script}"
        if not script.is_file() or os.geteuid() != 0:
            fail(f"the local base image {base_image} is missing; build it (as root, from a "
                 f"segarena checkout) with `{how}`")
        note(f"building the base image {base_image} once with {script} (a few minutes)")
        env = {**os.environ, "SEGARENA_BASE_IMAGE": base_image}
        if subprocess.run(["bash", str(script)], cwd=REPO, env=env).returncode != 0:
            fail(f"{script} failed; fix what it printed and run `{how}` again")
        client.images.get(base_image)
    return client


def _build(client: Any, base_image: str, images_dir: Path) -> dict[str, Path]:
    """Build the example algorithms and save them as submissions (``docker save`` tars)."""
    if not EXAMPLES.is_dir():
        fail(f"the example algorithms are not at {EXAMPLES}; run the demo from a segarena "
             "checkout (./scripts/provision.sh && .venv/bin/segarena demo)")
    images_dir.mkdir(parents=True, exist_ok=True)
    archives = {}
    for name in sorted(set(TEAMS.values())):
        image, _ = client.images.build(path=str(EXAMPLES / name), buildargs={"BASE": base_image},
                                       tag=f"segarena-demo/{name}:latest", rm=True,
                                       network_mode="none")
        path = images_dir / f"{name}.tar"
        stamp = images_dir / f"{name}.id"
        if not path.exists() or not stamp.exists() or stamp.read_text() != image.id:
            with open(path, "wb") as f:
                for chunk in image.save(named=True):
                    f.write(chunk)
            stamp.write_text(image.id)
        archives[name] = path
        success(f"built example algorithm [bold]{name}[/] ({image.short_id})")
    return archives


def _generate(target: Path, n_cases: int, seed: int, raters: int = 0) -> None:
    from evaluator import synth

    if (target / "references").is_dir():
        have = len(list((target / "references").glob("*.nii.gz")))
        if have != n_cases:
            note(f"{target} holds {have} case(s) already (not {n_cases}); pass --reset to "
                 "regenerate")
        return
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=err(), transient=True)
    with progress:
        task = progress.add_task(f"generating {target.name} cases", total=n_cases)
        for index in range(n_cases):
            synth.write_case(synth.make_case(seed, index), target, raters=raters, seed=seed)
            progress.advance(task)
    success(f"generated {n_cases} synthetic case(s) in {target}")


class _State:
    """Tokens, web sign-in passwords and ids of the demo world, kept in
    ``DATA_DIR/demo.json`` (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=2)


def _serve(settings: Any, host: str, port: int) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    from challenge.app import create_app
    from challenge.core.serving import uvicorn_config

    server = uvicorn.Server(uvicorn_config(create_app(settings), host=host, port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="segarena-demo-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            fail(f"the server could not start on {host}:{port} (port in use? try --port)")
        time.sleep(0.05)
    return server, thread, f"http://{host}:{port}"


def _admin_token(settings: Any, state: _State) -> str:
    """The demo admin's token: created (and saved in the state file) on the first run."""
    from challenge.cli.server import ensure_first_admin, migrate_or_fail

    migrate_or_fail(settings.database_url)
    created = ensure_first_admin(settings.database_url, "admin")
    if created is not None:
        state.data = {"admin": created[1]}
        state.save()
    elif "admin" not in state.data:
        fail(f"{settings.database_url} has an admin the demo did not create; pass --reset")
    return str(state.data["admin"])


def _account(api: Api, state: _State, key: str, path: str, body: dict[str, Any]) -> str:
    if key not in state.data:
        state.data[key] = api.post(path, json=body, auth=path.startswith("/admin"))["token"]
        state.save()
    return str(state.data[key])


def _password(url: str, state: _State, key: str) -> str:
    """The web sign-in password of the account whose token is ``state.data[key]``: random
    (16 characters), set through ``PUT /me/password`` on the first run and kept in the state
    file as ``password:<key>`` for the next ones."""
    name = f"password:{key}"
    if name not in state.data:
        password = secrets.token_urlsafe(12)
        Api(url, state.data[key]).request("PUT", "/me/password", json={"password": password})
        state.data[name] = password
        state.save()
    return str(state.data[name])


def _setup_challenge(api: Api, state: _State, data: Path) -> dict[str, int]:
    """The challenge, its two datasets and phases (each step skipped when it exists)."""
    try:
        api.get(f"/challenges/{SLUG}", handle={"not_found"})
    except ApiError:
        api.post("/challenges", json={
            "slug": SLUG, "title": "MS lesion segmentation demo (synthetic FLAIR)",
            "description": "Segment multiple-sclerosis lesions on synthetic 3D FLAIR. "
                           "Generated by `segarena demo`.", "is_published": True})
        success(f"created challenge [bold]{SLUG}[/]")
    datasets = {d["name"]: d["id"] for d in api.get_all(f"/challenges/{SLUG}/datasets")}
    for name, folder in (("sample", data / "sample"), ("hidden", data / "hidden")):
        if name not in datasets:
            layout = check_layout(folder)
            dataset = api.upload(f"/challenges/{SLUG}/datasets", tar_stream(layout, [0]),
                                 total=None, description=f"uploading {name}",
                                 params={"name": name})
            datasets[name] = dataset["id"]
            success(f"uploaded dataset [bold]{name}[/]: {dataset['n_cases']} cases, "
                    f"checksum {dataset['checksum'][:16]}")
    phases = {p["slug"]: p["id"] for p in api.get(f"/challenges/{SLUG}/phases")}
    now = datetime.now(UTC).replace(microsecond=0)
    common = {"opens_at": (now - timedelta(hours=1)).isoformat(),
              "closes_at": (now + timedelta(days=90)).isoformat(), "visibility": "public",
              "leaderboard_visibility": "public", "hide_scores_until_close": False}
    specs = [
        ("sanity-check", "Sanity check (public sample cases)", None, "sample",
         {"show_per_case_scores": True, "allow_log_tails": True,
          "submissions": {"per_day": 20, "total": 100, "counts": "latest"}}),
        ("test", "Test (hidden cases)", "sanity-check", "hidden",
         {"show_per_case_scores": False, "allow_log_tails": False,
          "reference": {"mode": "majority"},
          "submissions": {"per_day": 5, "total": 20, "counts": "latest"}}),
    ]
    for slug, title, parent, dataset, extra in specs:
        if slug not in phases:
            phase = api.post(f"/challenges/{SLUG}/phases", json={
                **common, "slug": slug, "title": title, "parent_phase_slug": parent,
                "dataset_id": datasets[dataset],
                "config": {"channels": ["flair"], "run_mode": "per_case", "limits": LIMITS,
                           "metrics": "msseg", "ranking": RANKING, **extra}})
            phases[slug] = phase["id"]
            success(f"created phase [bold]{slug}[/] (id {phase['id']}, dataset {dataset})")
    return phases


def _submit_all(url: str, state: _State, phase_slug: str, phase_id: int,
                archives: dict[str, Path], teams: list[str]) -> dict[str, tuple[Api, int]]:
    submitted = {}
    for team in teams:
        algorithm = TEAMS[team]
        api = Api(url, state.data[f"team:{team}"])
        key = f"submission:{phase_slug}:{team}"
        if key not in state.data:
            archive = archives[algorithm]
            size = archive.stat().st_size
            submission = api.upload(f"/phases/{phase_id}/submissions", file_chunks(archive),
                                    total=size, content_length=size,
                                    description=f"{team} submits {algorithm}",
                                    params={"comment": f"examples/algorithms/{algorithm}"})
            state.data[key] = submission["id"]
            state.save()
        submitted[team] = (api, int(state.data[key]))
    return submitted


def _follow(submitted: dict[str, tuple[Api, int]], phase_slug: str) -> dict[str, dict]:
    """Poll ``GET /submissions/{id}`` with rich progress bars until every evaluation ends."""
    progress = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[state]}"), TimeElapsedColumn(), console=err())
    tasks = {team: progress.add_task(f"{phase_slug}: {team}", total=None, state="queued")
             for team in submitted}
    evaluations: dict[str, dict] = {}
    with progress:
        while True:
            for team, (api, submission_id) in submitted.items():
                evaluation = api.get(f"/submissions/{submission_id}").get("evaluation") or {}
                evaluations[team] = evaluation
                state = evaluation.get("state", "queued")
                shown = state if not evaluation.get("failure_category") else \
                    f"{state} ({evaluation['failure_category']})"
                progress.update(tasks[team], total=evaluation.get("cases_total") or None,
                                completed=evaluation.get("cases_done") or 0, state=shown)
            if all(e.get("state") in TERMINAL_STATES for e in evaluations.values()):
                return evaluations
            time.sleep(1.0)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def demo(
    cases: Annotated[int, typer.Option("--cases", min=1, max=200,
                                       help="hidden test cases to generate")] = 10,
    data_dir: Annotated[Path, typer.Option(
        "--data-dir", help="database, storage, images and cases of the demo")]
    = Path(".segarena/demo"),
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=8, help="evaluations at once")] = 2,
    seed: Annotated[int, typer.Option(min=0, help="seed of the synthetic hidden set")] = 2027,
    reset: Annotated[bool, typer.Option(help="delete DATA_DIR first and start over")] = False,
    serve: Annotated[bool, typer.Option(help="keep serving after the leaderboard (Ctrl-C "
                                        "stops); --no-serve exits")] = True,
) -> None:
    """Run a whole challenge on this machine: build the example algorithms, start the server,
    create a challenge with a public sanity check and a hidden test phase, upload synthetic
    MS cases, let three teams submit, follow the evaluations and print the leaderboard.

    Re-running reuses DATA_DIR (nothing is created or submitted twice); --reset starts over.
    """
    from challenge.core.config import Settings

    data_dir, archives = _prepare(data_dir, reset=reset, cases=cases, seed=seed)
    state = _State(data_dir / "demo.json")
    settings = Settings(database_url=f"sqlite:///{data_dir / 'segarena.db'}",
                        storage_root=data_dir / "storage", worker_mode="thread",
                        worker_concurrency=workers)
    admin = _admin_token(settings, state)
    server, thread, url = _serve(settings, host, port)
    try:
        organizer = _account(Api(url, admin), state, "organizer", "/admin/users",
                             {"username": "organizer", "role": "organizer"})
        api = Api(url, organizer)
        phases = _setup_challenge(api, state, data_dir / "data")
        _register_teams(api, url, state)
        sign_ins = {"organizer": _password(url, state, "organizer"),
                    DEMO_PARTICIPANT: _password(url, state, f"team:{DEMO_PARTICIPANT}")}
        _run_phases(url, state, phases, archives)
        _print_results(api, url, state, data_dir, sign_ins)
        if serve:
            _serve_until_stopped(thread)
    except KeyboardInterrupt:
        note("stopping")
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _prepare(data_dir: Path, *, reset: bool, cases: int,
             seed: int) -> tuple[Path, dict[str, Path]]:
    """Check Docker, (re)create DATA_DIR, build the example archives and generate the sample
    and hidden cases; returns the absolute DATA_DIR and the archive of each algorithm."""
    base_image = local_base_image()
    client = _docker(base_image)
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
        note(f"removed {data_dir}")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    archives = _build(client, base_image, data_dir / "images")
    _generate(data_dir / "data" / "sample", SAMPLE_CASES, seed + 1)
    _generate(data_dir / "data" / "hidden", cases, seed, raters=HIDDEN_RATERS)
    return data_dir, archives


def _register_teams(api: Api, url: str, state: _State) -> None:
    """One participant account and one team per entry of ``TEAMS`` (skipped when saved)."""
    for team in TEAMS:
        token = _account(api, state, f"team:{team}", "/users", {"username": team})
        if f"team_id:{team}" not in state.data:
            created = Api(url, token).post(f"/challenges/{SLUG}/teams", json={"name": team})
            state.data[f"team_id:{team}"] = created["id"]
            state.save()
    success(f"registered teams {', '.join(TEAMS)}")


def _run_phases(url: str, state: _State, phases: dict[str, int],
                archives: dict[str, Path]) -> None:
    """Submit to the sanity check, follow it, then let the teams that passed enter the test
    phase (it requires a succeeded evaluation in the sanity check)."""
    teams = list(TEAMS)
    for phase_slug in ("sanity-check", "test"):
        submitted = _submit_all(url, state, phase_slug, phases[phase_slug], archives, teams)
        evaluations = _follow(submitted, phase_slug)
        teams = [t for t in teams if evaluations[t].get("state") == "succeeded"]
        for team in sorted(set(submitted) - set(teams)):
            note(f"{team} did not pass the sanity check; it cannot enter the test phase")


def _print_results(api: Api, url: str, state: _State, data_dir: Path,
                   sign_ins: dict[str, str]) -> None:
    """Both leaderboards, then where to look, whom to sign in as and what to try next."""
    from challenge.cli.leaderboard import show_leaderboard

    for phase_slug in ("sanity-check", "test"):
        show_leaderboard(api, f"{SLUG}/{phase_slug}")
    console = out()
    console.print(f"\nleaderboard page: [bold]{url}/challenges/{SLUG}/phases/test[/]",
                  soft_wrap=True)
    console.print(f"API docs: {url}/docs · organizer token in {state.path}", soft_wrap=True)
    console.print(f"sign in at [bold]{url}/signin[/] (passwords kept in {state.path}):",
                  soft_wrap=True)
    for username, password in sign_ins.items():
        role = "organizer" if username == "organizer" else "participant"
        console.print(f"  {role}: user name [bold]{username}[/] · password "
                      f"[bold]{password}[/]", soft_wrap=True, highlight=False)
    console.print(f"try your own algorithm on the public sample cases: segarena "
                  f"test-container my-algo.tar --cases {shown(str(data_dir))}/data/sample",
                  soft_wrap=True)


def _serve_until_stopped(thread: threading.Thread) -> None:
    """Block while the server thread runs; Ctrl-C or SIGTERM (``kill PID``) stops it."""
    out().print("serving; press Ctrl-C to stop")
    signal.signal(signal.SIGTERM, _interrupt)
    while thread.is_alive():
        thread.join(0.5)
