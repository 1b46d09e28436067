"""The leaderboard API's response shapes (documentation of the JSON contract the CLI reads)."""

from __future__ import annotations

from pydantic import BaseModel


class MetricPublic(BaseModel):
    name: str
    label: str
    unit: str = ""
    higher_is_better: bool


class RowPublic(BaseModel):
    """One team. ``rank``, ``scores`` and the rest are null / empty while scores are hidden."""

    rank: int | None
    team: str
    submission_id: int | None
    submitted_at: str | None
    n_missing: int | None
    scores: dict[str, float | None]
    rank_interval: list[int] | None
    score: float | None = None
    metric_ranks: dict[str, int] | None = None
    rank_median: float | None = None


class StabilityPublic(BaseModel):
    n_boot: int
    seed: int
    kendall_tau_median: float | None
    kendall_tau_mean: float | None
    n_tau_undefined: int


class SignificancePublic(BaseModel):
    """``better[i][j]``: team i significantly better than team j (Holm-adjusted one-sided
    Wilcoxon on the primary metric); teams in leaderboard order."""

    metric: str
    alpha: float
    teams: list[str]
    better: list[list[bool]]
    p_adjusted: list[list[float | None]]


class ReferenceRowPublic(BaseModel):
    """The human baseline of one rater (several raters per case): the rater's mask scored
    against the leave-one-out consensus of the others. Never ranked; ``intervals`` are the
    bootstrap 95 % intervals of each aggregate over cases."""

    rater: str
    scores: dict[str, float | None]
    intervals: dict[str, list[float] | None]
    n_cases: int


class LeaderboardPublic(BaseModel):
    phase_id: int
    config_version: int
    config_hash: str
    evaluator_version: str | None
    #: The evaluation sites that scored the ranked submissions, as "name (site worker V)".
    evaluation_sites: list[str] = []
    dataset_checksum: str | None
    computed_at: str
    method: str
    aggregate: str
    representative: str
    precision: int
    primary_metric: str
    alpha: float
    metrics: list[MetricPublic]
    n_cases: int
    rows: list[RowPublic]
    stability: StabilityPublic | None
    rank_frequencies: dict[str, dict[str, int]] | None
    significance: SignificancePublic | None
    scores_hidden_until: str | None
    per_case_available: bool
    reference: dict[str, str | float | int] | None = None
    raters: list[str] = []
    reference_rows: list[ReferenceRowPublic] = []
