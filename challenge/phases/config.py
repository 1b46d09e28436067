"""The validated, hashable phase configuration (DESIGN section 2).

Stored as JSON in ``PhaseConfig.config``; its SHA-256 over canonical JSON is the config hash every
leaderboard states. Field units are in the names (``_s`` seconds, ``_mb`` MiB).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from challenge.core.text import ChannelName, check_name

METRIC_PRESETS = ("msseg", "wmh", "shifts", "instance")
RANKING_METHODS = ("aggregate_then_rank", "rank_then_aggregate", "test_then_rank")
RANKABLE_METRICS = (
    "dice", "lesion_f1", "lesion_precision", "lesion_recall", "abs_volume_diff_ml", "avd_pct",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContainerLimits(_Strict):
    wall_time_per_case_s: float = Field(600, gt=0, le=86400)
    wall_time_per_submission_s: float = Field(7200, gt=0, le=7 * 86400)
    memory_mb: int = Field(4096, ge=64, le=1024 * 1024, description="memory = memory+swap")
    cpus: float = Field(1.0, gt=0, le=256)
    pids: int = Field(256, ge=16, le=65536)
    output_mb: int = Field(512, ge=1, le=1024 * 1024)
    tmp_mb: int = Field(512, ge=1, le=1024 * 1024)
    gpu: bool = False


class SubmissionLimits(_Strict):
    """Charged submissions a team may make; a member's submissions made in any team count
    against every team they are in (``challenge.submissions.service.usage``)."""

    per_day: int = Field(5, ge=1, le=10000, description="per team and its members, rolling 24 h")
    total: int = Field(100, ge=1, le=1_000_000,
                       description="per team and its members, whole phase")
    counts: Literal["best", "latest", "selected"] = "best"


class SandboxRelaxations(_Strict):
    """Departures from the sandbox defaults; each one is written to the audit log."""

    run_as_uid: int | None = Field(
        None, ge=1, le=2**31 - 1,
        description="run images as this uid instead of refusing images whose USER is root",
    )


class RankingSpec(_Strict):
    method: Literal["aggregate_then_rank", "rank_then_aggregate", "test_then_rank"] = (
        "aggregate_then_rank"
    )
    aggregate: Literal["mean", "median"] = "mean"
    metrics: list[str] = Field(default_factory=lambda: ["dice", "lesion_f1",
                                                        "abs_volume_diff_ml"], min_length=1)
    primary_metric: str = "dice"
    precision: int = Field(3, ge=0, le=12, description="decimals shown and used for ties")
    alpha: float = Field(0.05, gt=0, lt=1)
    bootstrap_samples: int = Field(1000, ge=0, le=100000)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in RANKABLE_METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {list(RANKABLE_METRICS)}")
        if len(set(value)) != len(value):
            raise ValueError("metrics must not repeat")
        return value

    @model_validator(mode="after")
    def _primary_is_ranked(self) -> RankingSpec:
        if self.primary_metric not in self.metrics:
            raise ValueError("primary_metric must be one of the ranked metrics")
        return self


class PhaseConfigSpec(_Strict):
    channels: list[ChannelName] = Field(default_factory=lambda: ["flair"], min_length=1,
                                        max_length=16)
    run_mode: Literal["per_case", "batch"] = "per_case"
    limits: ContainerLimits = Field(default_factory=ContainerLimits)
    submissions: SubmissionLimits = Field(default_factory=SubmissionLimits)
    sandbox: SandboxRelaxations = Field(default_factory=SandboxRelaxations)
    metrics: str | dict[str, Any] = Field(
        "msseg", description=f"a preset {list(METRIC_PRESETS)} or a custom lesion-matching config"
    )
    ranking: RankingSpec = Field(default_factory=RankingSpec)
    show_per_case_scores: bool = False
    allow_log_tails: bool = False

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value

    @field_validator("metrics")
    @classmethod
    def _known_preset(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from evaluator.metrics.config import resolve_config  # metrics validates its own configs

        try:
            resolved = resolve_config(value)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid metrics config: {exc}") from exc
        check_name(resolved.name, max_length=64, what="the metrics config's name")
        return value


def config_hash(config: dict[str, Any], dataset_checksum: str | None) -> str:
    """SHA-256 of the canonical JSON of the config and the dataset checksum it scores against."""
    canonical = json.dumps({"config": config, "dataset": dataset_checksum}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


SCORING_KEYS = ("channels", "run_mode", "limits", "sandbox", "metrics")


def needs_reevaluation(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a config change alters per-case results (not just ranking or quotas)."""
    return any(old.get(k) != new.get(k) for k in SCORING_KEYS)
