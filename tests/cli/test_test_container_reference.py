"""`segarena test-container` refuses, before loading any image, a reference rule the local
cases cannot satisfy, with the platform's own code and reason (``rule_mismatch``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenge.cli import app
from tests import factories as f


def _run(archive: Path, cases: Path, config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["test-container", str(archive), "--cases", str(cases),
                                      "--phase-config", str(config)])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("dataset", "mode", "code"), [
    (lambda: f.rater_dataset(2, consensus=False), "consensus", "missing_consensus"),
    (lambda: f.tiny_dataset(2), "majority", "reference_needs_raters"),
    (lambda: f.tiny_dataset(2), "staple", "reference_needs_raters"),
])
def test_a_reference_rule_the_cases_cannot_meet_is_a_clear_error(
        tmp_path: Path, dataset, mode: str, code: str) -> None:
    cases = dataset().write_dir(tmp_path / "cases")
    archive = tmp_path / "never-loaded.tar"
    archive.write_bytes(b"not an image: the check comes first")
    config = tmp_path / "phase.yaml"
    config.write_text(f"reference:\n  mode: {mode}\n")
    exit_code, stderr = _run(archive, cases, config)
    assert exit_code == 1
    assert f"[{code}]" in stderr and "Traceback" not in stderr


def test_a_rule_the_cases_meet_passes_the_check(tmp_path: Path) -> None:
    """The check lets a fitting rule through: the run goes on to the image (here not one)."""
    cases = f.rater_dataset(2, consensus=False).write_dir(tmp_path / "cases")
    archive = tmp_path / "never-loaded.tar"
    archive.write_bytes(b"not an image")
    config = tmp_path / "phase.yaml"
    config.write_text("reference:\n  mode: majority\n")
    exit_code, stderr = _run(archive, cases, config)
    assert "reference_needs_raters" not in stderr and "missing_consensus" not in stderr
    assert exit_code == 1  # the archive, not the rule, stops it
