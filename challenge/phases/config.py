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
from evaluator.spec import EvaluationSpec, channels_field

RANKING_METHODS = ("aggregate_then_rank", "rank_then_aggregate", "test_then_rank")
RANKABLE_METRICS = (
    "dice", "lesion_f1", "lesion_precision", "lesion_recall", "abs_volume_diff_ml", "avd_pct",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmissionLimits(_Strict):
    """Charged submissions a team may make; a member's submissions made in any team count
    against every team they are in (``challenge.submissions.service.usage``)."""

    per_day: int = Field(5, ge=1, le=10000, description="per team and its members, rolling 24 h")
    total: int = Field(100, ge=1, le=1_000_000,
                       description="per team and its members, whole phase")
    counts: Literal["best", "latest", "selected"] = "best"


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


class PhaseConfigSpec(EvaluationSpec):
    """A phase's whole config: how it runs and scores (:class:`EvaluationSpec`), plus quotas,
    ranking and what is published. Stored as its flat JSON dump; the field order does not
    matter to the hash (canonical JSON sorts keys)."""

    #: Channel names are user text: the identifier rule, with its error codes.
    channels: list[ChannelName] = channels_field()
    submissions: SubmissionLimits = Field(default_factory=SubmissionLimits)
    ranking: RankingSpec = Field(default_factory=RankingSpec)
    show_per_case_scores: bool = False
    allow_log_tails: bool = False

    @field_validator("metrics")
    @classmethod
    def _printable_metrics_name(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        # Runs after EvaluationSpec's own check, so the config resolves.
        from evaluator.metrics import resolve_config

        check_name(resolve_config(value).name, max_length=64, what="the metrics config's name")
        return value

    def evaluation(self) -> EvaluationSpec:
        """The run-and-score part alone, as the evaluator receives it."""
        scoring = self.model_dump(include=set(EvaluationSpec.model_fields))
        return EvaluationSpec.model_validate(scoring)


def config_hash(config: dict[str, Any], dataset_checksum: str | None) -> str:
    """SHA-256 of the canonical JSON of the config and the dataset checksum it scores against."""
    canonical = json.dumps({"config": config, "dataset": dataset_checksum}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def needs_reevaluation(old: PhaseConfigSpec, new: PhaseConfigSpec) -> bool:
    """Whether a config change alters per-case results (not just ranking or quotas)."""
    return old.evaluation() != new.evaluation()
