"""The phase config's JSON shape and hash are a published contract: every leaderboard states the
hash, and stored config versions must validate and hash exactly as they did when written."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from challenge.phases.config import PhaseConfigSpec, config_hash, needs_reevaluation
from evaluator.spec import EvaluationSpec

DEFAULT_STORED: dict[str, Any] = {
    "channels": ["flair"], "run_mode": "per_case",
    "limits": {"wall_time_per_case_s": 600.0, "wall_time_per_submission_s": 7200.0,
               "memory_mb": 4096, "cpus": 1.0, "pids": 256, "output_mb": 512, "tmp_mb": 512,
               "gpu": False},
    "submissions": {"per_day": 5, "total": 100, "counts": "best"},
    "sandbox": {"run_as_uid": None},
    "metrics": "msseg",
    "ranking": {"method": "aggregate_then_rank", "aggregate": "mean",
                "metrics": ["dice", "lesion_f1", "abs_volume_diff_ml"],
                "primary_metric": "dice", "precision": 3, "alpha": 0.05,
                "bootstrap_samples": 1000},
    "show_per_case_scores": False, "allow_log_tails": False,
}

REPRESENTATIVE_STORED: dict[str, Any] = {
    "channels": ["flair", "t1"], "run_mode": "batch",
    "limits": {"wall_time_per_case_s": 120.0, "wall_time_per_submission_s": 3600.5,
               "memory_mb": 2048, "cpus": 1.5, "pids": 128, "output_mb": 64, "tmp_mb": 256,
               "gpu": True},
    "submissions": {"per_day": 3, "total": 20, "counts": "latest"},
    "sandbox": {"run_as_uid": 1000},
    "metrics": {"preset": "wmh", "connectivity": 6, "name": "wmh-6"},
    "ranking": {"method": "rank_then_aggregate", "aggregate": "median",
                "metrics": ["dice", "lesion_f1"], "primary_metric": "lesion_f1",
                "precision": 4, "alpha": 0.01, "bootstrap_samples": 200},
    "show_per_case_scores": True, "allow_log_tails": True,
}

CHECKSUM = "sha256:" + "0" * 64


def test_default_config_keeps_its_json_shape_and_hash() -> None:
    stored = PhaseConfigSpec().model_dump(mode="json")
    assert stored == DEFAULT_STORED
    assert config_hash(stored, None) == (
        "28042feddef1889b6228792e404b9326ca0d4284e88126182f4f9aba1c385a8b")


def test_stored_configs_validate_to_themselves_and_hash_as_before() -> None:
    for stored in (DEFAULT_STORED, REPRESENTATIVE_STORED):
        assert PhaseConfigSpec.model_validate(stored).model_dump(mode="json") == stored
    assert config_hash(REPRESENTATIVE_STORED, CHECKSUM) == (
        "551c48c2e0f955b14b788055a6f7a1b1eda4c5ab6390877f64a9abebc066f057")


def test_the_evaluator_receives_the_scoring_part_alone() -> None:
    spec = PhaseConfigSpec.model_validate(REPRESENTATIVE_STORED)
    scoring = spec.evaluation()
    assert type(scoring) is EvaluationSpec
    assert scoring.model_dump(mode="json") == {
        k: REPRESENTATIVE_STORED[k] for k in ("channels", "run_mode", "limits", "sandbox",
                                              "metrics")}


@pytest.mark.parametrize("change,rescore", [
    ({"channels": ["t1", "flair"]}, True), ({"run_mode": "per_case"}, True),
    ({"limits": {"memory_mb": 4096}}, True), ({"sandbox": {"run_as_uid": None}}, True),
    ({"metrics": "msseg"}, True), ({"ranking": {"method": "aggregate_then_rank"}}, False),
    ({"submissions": {"per_day": 9}}, False), ({"show_per_case_scores": False}, False),
    ({"reference": {"mode": "staple"}}, True), ({"reference": {"mode": "consensus"}}, False),
])
def test_only_scoring_changes_need_reevaluation(change: dict[str, Any], rescore: bool) -> None:
    old = PhaseConfigSpec.model_validate(REPRESENTATIVE_STORED)
    new = PhaseConfigSpec.model_validate({**REPRESENTATIVE_STORED, **change})
    assert needs_reevaluation(old, new) is rescore
    assert not needs_reevaluation(old, PhaseConfigSpec.model_validate(REPRESENTATIVE_STORED))


@pytest.mark.parametrize("channels,error", [
    (["fl\x00air"], "forbidden_character"), (["1flair"], "rule_mismatch"),
    (["../x"], "rule_mismatch"), (["flair", "flair"], "value_error"), ([], "too_short"),
])
def test_phase_channels_are_identifiers(channels: list[str], error: str) -> None:
    with pytest.raises(ValidationError) as info:
        PhaseConfigSpec.model_validate({"channels": channels})
    assert info.value.errors()[0]["type"] == error
