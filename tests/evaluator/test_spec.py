"""The run-and-score spec is the one source of a run's limits, sandbox options and metrics."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from evaluator.metrics import get_preset
from evaluator.sandbox import Limits, RunMode, SandboxOptions
from evaluator.spec import EvaluationSpec

MiB = 1024 * 1024


def test_default_spec_gives_the_documented_default_limits() -> None:
    assert EvaluationSpec().sandbox_limits() == Limits(
        wall_time_per_case_s=600.0, wall_time_per_submission_s=7200.0,
        memory_bytes=4096 * MiB, cpus=1.0, pids=256, output_bytes=512 * MiB,
        tmp_bytes=512 * MiB, gpu=False, open_files=1024, log_bytes=1 * MiB)


def test_every_phase_limit_reaches_the_executor_in_seconds_and_bytes() -> None:
    spec = EvaluationSpec.model_validate({"limits": {
        "wall_time_per_case_s": 30, "wall_time_per_submission_s": 90.5, "memory_mb": 300,
        "cpus": 0.5, "pids": 32, "output_mb": 2, "tmp_mb": 3, "gpu": True}})
    limits = spec.sandbox_limits()
    assert (limits.wall_time_per_case_s, limits.wall_time_per_submission_s) == (30.0, 90.5)
    assert (limits.memory_bytes, limits.output_bytes, limits.tmp_bytes) == (
        300 * MiB, 2 * MiB, 3 * MiB)
    assert (limits.cpus, limits.pids, limits.gpu) == (0.5, 32, True)


def test_sandbox_limits_have_no_defaults_for_phase_settings() -> None:
    defaults = {f.name for f in dataclasses.fields(Limits)
                if f.default is not dataclasses.MISSING}
    assert defaults == {"open_files", "log_bytes"}


def test_relaxations_and_metrics_come_from_the_spec() -> None:
    spec = EvaluationSpec.model_validate({"run_mode": "batch", "sandbox": {"run_as_uid": 4242},
                                          "metrics": "wmh"})
    assert spec.run_mode is RunMode.BATCH
    assert spec.sandbox_options() == SandboxOptions(run_as_uid=4242)
    assert spec.metrics_config() == get_preset("wmh")
    assert EvaluationSpec().sandbox_options() == SandboxOptions()


@pytest.mark.parametrize("data", [{"channels": []}, {"channels": ["flair", "flair"]},
                                  {"metrics": "nope"}, {"limits": {"memory_mb": 1}},
                                  {"ranking": {}}])
def test_invalid_specs_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EvaluationSpec.model_validate(data)
