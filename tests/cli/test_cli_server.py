"""``segarena init`` and ``segarena serve`` on fresh databases (no running server needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, inspect, text

from tests.cli.helpers import Cli, free_port, token_in


def _env(tmp_path: Path) -> dict[str, str | None]:
    return {"SEGARENA_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
            "SEGARENA_STORAGE_ROOT": str(tmp_path / "storage"), "SEGARENA_WORKER_MODE": "off"}


def test_serve_migrates_the_database_then_runs_the_app(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    calls: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **options: calls.update(
        app=app, host=host, port=port, options=options))
    cli = Cli(f"http://127.0.0.1:{free_port()}", tmp_path / "cli.json")
    result = cli("serve", "--host", "0.0.0.0", "--port", "8123", env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert (calls["host"], calls["port"]) == ("0.0.0.0", 8123)
    assert isinstance(calls["app"], FastAPI)
    assert calls["options"]["proxy_headers"] is False  # forwarded headers are the app's business
    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar()
    assert {"users", "challenges", "phases"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_init_with_a_custom_admin_and_no_save(tmp_path: Path) -> None:
    cli = Cli(f"http://127.0.0.1:{free_port()}", tmp_path / "cli.json")
    result = cli("init", "--admin-username", "root-admin", "--no-save", env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert "created admin root-admin" in result.stdout
    assert token_in(result.stdout).startswith("sgr_")
    assert not cli.config.exists()
    bad = cli("init", "--admin-username", "no spaces!", env=_env(tmp_path))
    assert bad.exit_code == 1
    assert "invalid admin username 'no spaces!'" in bad.stderr


def test_serve_workers_runs_the_factory_in_processes_without_their_own_worker(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        calls.update(app=app, options=options, mode=os.environ.get("SEGARENA_WORKER_MODE"))

    monkeypatch.setattr(uvicorn, "run", fake_run)
    cli = Cli(f"http://127.0.0.1:{free_port()}", tmp_path / "cli.json")
    env = {**_env(tmp_path), "SEGARENA_WORKER_MODE": "thread",
           "SEGARENA_REAPER_GRACE_SECONDS": "3600"}
    result = cli("serve", "--workers", "3", "--no-access-log", env=env)
    assert result.exit_code == 0, result.output
    assert calls["app"] == "challenge.app:create_app"
    assert {k: calls["options"][k] for k in ("factory", "workers", "access_log")} == {
        "factory": True, "workers": 3, "access_log": False}
    assert calls["mode"] == "off"  # the processes inherit it; the supervisor runs the worker
    assert os.environ.get("SEGARENA_WORKER_MODE") != "off"  # restored afterwards
    refused = cli("serve", "--workers", "0", env=env)
    assert refused.exit_code != 0 and "--workers" in refused.output
