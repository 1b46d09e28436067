"""One real segarena server for the CLI tests, and the world the CLI builds on it.

The server is uvicorn in a background thread on a free port, serving ``create_app`` on a temp
SQLite database migrated with Alembic and a temp storage root (no evaluation workers). The
``world`` fixture drives the CLI through the organizer and participant set-up once; tests
assert on the outputs it recorded and on the server's state through the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.evaluations.dispatch import NoDispatcher
from tests.cli.helpers import Cli, api, serve_in_thread, token_in, write_dataset

EXAMPLE_SPEC = Path(__file__).resolve().parents[2] / "examples" / "challenge.yaml"
SLUG = "msles-2027"


@dataclass
class Server:
    url: str
    database_url: str
    root: Path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("segarena-cli")
    database_url = f"sqlite:///{root / 'segarena.db'}"
    migrate.upgrade(database_url)
    settings = Settings(environment="test", database_url=database_url,
                        storage_root=root / "storage", worker_mode="off",
                        auth_failures_per_minute=1000)
    with serve_in_thread(create_app(settings, dispatcher=NoDispatcher())) as url:
        yield Server(url, database_url, root)


@dataclass
class World:
    server: Server
    cli: Cli
    steps: dict[str, Result] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    dataset_dir: Path | None = None


def _ok(world: World, name: str, result: Result) -> Result:
    world.steps[name] = result
    if result.exit_code != 0:
        raise AssertionError(f"set-up step {name!r} failed ({result.exit_code}):\n"
                             f"{result.output}")
    return result


def _open_sanity_phase(server: Server, organizer: str) -> None:
    """Make the sanity-check phase open now, whatever today's date (the example's is fixed)."""
    with api(server.url, organizer) as client:
        phases = client.get(f"/challenges/{SLUG}/phases").json()
        sanity = next(p for p in phases if p["slug"] == "sanity-check")
        now = datetime.now(UTC)
        response = client.patch(f"/phases/{sanity['id']}", json={
            "opens_at": (now - timedelta(days=1)).isoformat(),
            "closes_at": (now + timedelta(days=30)).isoformat()})
        response.raise_for_status()


@pytest.fixture(scope="session")
def world(server: Server, tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("cli-home")
    world = World(server, Cli(server.url, home / "admin" / "cli.json"))
    cli = world.cli
    db_env: dict[str, str | None] = {"SEGARENA_DATABASE_URL": server.database_url}
    init = _ok(world, "init", cli("init", env=db_env))
    world.tokens["admin"] = token_in(init.stdout)
    _ok(world, "init_again", cli("init", env=db_env))
    organizer = _ok(world, "user_create", cli("user", "create", "ola", "--role", "organizer",
                                              "--no-save"))
    world.tokens["ola"] = token_in(organizer.stdout)
    ola = world.tokens["ola"]
    _ok(world, "challenge_create", cli("challenge", "create", "--spec", str(EXAMPLE_SPEC),
                                       token=ola))
    _open_sanity_phase(server, ola)
    _ok(world, "publish", cli("challenge", "publish", SLUG, token=ola))
    for name in ("alice", "bob"):
        signup = _ok(world, f"signup_{name}", cli("signup", name, "--no-save"))
        world.tokens[name] = token_in(signup.stdout)
    _ok(world, "team_create", cli("team", "create", SLUG, "lesion-hunters", "--json",
                                  token=world.tokens["alice"]))
    invite = json.loads(world.steps["team_create"].stdout)["invite_code"]
    _ok(world, "team_join", cli("team", "join", SLUG, invite, token=world.tokens["bob"]))
    world.dataset_dir = write_dataset(tmp_path_factory.mktemp("dataset"))
    _ok(world, "dataset_upload", cli("dataset", "upload", SLUG, str(world.dataset_dir),
                                     "--name", "msles-sanity", "--attach", "sanity-check",
                                     "--attach", "final-test", token=ola))
    return world
