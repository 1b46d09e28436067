"""`segarena test-container`: the participant's local run uses the platform's own sandbox,
checks and scoring, and reports per-case status and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenge.cli import app
from tests.evaluator.docker_images import ImageArchives
from tests.evaluator.e2e_data import brain_dataset

pytestmark = pytest.mark.docker


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_baseline_scores_well_on_sample_cases(image_archives: ImageArchives,
                                              tmp_path: Path) -> None:
    cases = brain_dataset(2).write_dir(tmp_path / "samples")
    config = tmp_path / "phase.yaml"
    config.write_text("config:\n  run_mode: batch\n  limits:\n    memory_mb: 256\n")
    code, stdout, stderr = _run("test-container", str(image_archives.get("baseline")),
                                "--cases", str(cases), "--phase-config", str(config), "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert [c["status"] for c in report["cases"]] == ["ok", "ok"]
    assert all(c["metrics"]["dice"] > 0.8 for c in report["cases"])
    assert report["summary"]["n_ok"] == 2 and report["image_id"].startswith("sha256:")


def test_broken_output_is_explained_per_case(image_archives: ImageArchives,
                                             tmp_path: Path) -> None:
    cases = brain_dataset(1).write_dir(tmp_path / "samples")
    code, stdout, _ = _run("test-container", str(image_archives.get("wrongshape")),
                           "--cases", str(cases), "--json")
    assert code == 0
    [case] = json.loads(stdout)["cases"]
    assert case["status"] == "missing"
    assert case["category"] == "invalid_output: shape_mismatch"


def test_bad_phase_config_is_a_clear_error(image_archives: ImageArchives,
                                           tmp_path: Path) -> None:
    cases = brain_dataset(1).write_dir(tmp_path / "samples")
    config = tmp_path / "phase.yaml"
    config.write_text("limits:\n  memory_mb: -5\n")
    code, _, stderr = _run("test-container", str(image_archives.get("baseline")),
                           "--cases", str(cases), "--phase-config", str(config))
    assert code == 1
    assert "limits.memory_mb" in stderr
