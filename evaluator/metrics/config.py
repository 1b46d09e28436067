"""Lesion-matching configuration: the four presets of DESIGN §4 and validated custom configs.

A configuration is frozen and round-trips through plain JSON (``to_dict`` / ``from_dict``)
so that a challenge phase can store it, hash it and reproduce a leaderboard later.

Presets and the reference each one reproduces:

========== === ============== ========================= ============ ==========================
preset     C   V_min (mm³)    rule                      counting     anchor
========== === ============== ========================= ============ ==========================
msseg      6   3 (both masks) anima(0.10, 0.70, 0.65)   per_side     Anima animaSegPerfAnalyzer
wmh        26  none           overlap                   per_side     WMH 2017 evaluation.py
shifts     6   none           iou(0.25), max per lesion per_side     Shifts 2022 ``metrics.py``
instance   26  none           iou(0.5)                  one_to_one   panoptica / MetricsReloaded
========== === ============== ========================= ============ ==========================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Connectivity = Literal[6, 18, 26]
Counting = Literal["per_side", "one_to_one"]
F1Formula = Literal["harmonic", "shifts"]

CONNECTIVITIES: tuple[int, ...] = (6, 18, 26)
RULE_KINDS: tuple[str, ...] = ("overlap", "iou", "anima")
COUNTINGS: tuple[str, ...] = ("per_side", "one_to_one")
F1_FORMULAS: tuple[str, ...] = ("harmonic", "shifts")


@dataclass(frozen=True)
class OverlapRule:
    """A lesion is detected / correct when it shares at least one voxel with the other side.

    Greedy one-to-one matching (if used) scores a pair by its number of shared voxels.
    """

    kind: Literal["overlap"] = "overlap"


@dataclass(frozen=True)
class IoURule:
    """A lesion is detected / correct when its best IoU with a lesion of the other side is
    ``>= tau`` (``> tau`` when ``strict``). One-to-one matching scores pairs by IoU."""

    tau: float = 0.5
    strict: bool = False
    kind: Literal["iou"] = "iou"


@dataclass(frozen=True)
class AnimaRule:
    """Anima's detection rule (Commowick et al. 2018, animaSegPerfAnalyzer).

    A lesion is detected when the share of its voxels covered by the other side is ``> alpha``
    and, walking the overlapping lesions of the other side from the largest overlap down
    until their summed share of the covered voxels reaches ``gamma``, none of them has more
    than ``beta`` of its own voxels outside every lesion of this side. See
    :func:`evaluator.metrics.lesions.anima_detected` for the exact walk.
    """

    alpha: float = 0.10
    beta: float = 0.70
    gamma: float = 0.65
    kind: Literal["anima"] = "anima"


Rule = OverlapRule | IoURule | AnimaRule


@dataclass(frozen=True)
class MetricsConfig:
    """Everything that decides a case's metrics besides the two masks and the spacing.

    Attributes:
        name: preset name, or ``"custom"``.
        connectivity: 6 (faces), 18 (faces+edges) or 26 (faces+edges+corners) in 3-D.
        ref_min_volume_mm3 / pred_min_volume_mm3: V_min in mm³ or None. Components of
            volume <= V_min are removed before matching: a lesion is kept when it has more
            than ``floor(V_min / voxel volume)`` voxels (Anima). Removed voxels count as
            background on that side for the lesion criteria, never for Dice or volumes.
        rule: the detection / matching rule.
        counting: ``per_side`` (recall = detected reference lesions / N_R, precision =
            correct predicted lesions / N_P) or ``one_to_one`` (greedy matching by score,
            highest first, each lesion used once, TP = matched pairs).
        f1_formula: ``harmonic`` (2PR/(P+R), 0 when both are 0) or ``shifts``
            (TP_P / (TP_P + (FP + FN)/2), TP_P = correct predicted lesions).
        empty_side_value: precision when N_P = 0 and recall when N_R = 0; ``None`` = NaN.
            1.0 in the WMH script.
        dice_both_empty: Dice when both masks are empty; ``None`` = NaN (WMH, panoptica).
    """

    name: str = "custom"
    connectivity: int = 6
    ref_min_volume_mm3: float | None = None
    pred_min_volume_mm3: float | None = None
    rule: Rule = field(default_factory=OverlapRule)
    counting: str = "per_side"
    f1_formula: str = "harmonic"
    empty_side_value: float | None = None
    dice_both_empty: float | None = 1.0

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (no NaN, no tuples) accepted back by :meth:`from_dict`."""
        rule: dict[str, Any] = {"kind": self.rule.kind}
        if isinstance(self.rule, IoURule):
            rule.update(tau=self.rule.tau, strict=self.rule.strict)
        elif isinstance(self.rule, AnimaRule):
            rule.update(alpha=self.rule.alpha, beta=self.rule.beta, gamma=self.rule.gamma)
        return {
            "name": self.name,
            "connectivity": self.connectivity,
            "ref_min_volume_mm3": self.ref_min_volume_mm3,
            "pred_min_volume_mm3": self.pred_min_volume_mm3,
            "rule": rule,
            "counting": self.counting,
            "f1_formula": self.f1_formula,
            "empty_side_value": self.empty_side_value,
            "dice_both_empty": self.dice_both_empty,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricsConfig:
        """Build and validate a config from plain JSON; unknown keys are a ValueError.

        A ``{"preset": "<name>"}`` dict, optionally with overrides, starts from that preset.
        """
        if not isinstance(d, dict):
            raise ValueError("metrics config must be a JSON object")
        data = dict(d)
        base: dict[str, Any] = {}
        if "preset" in data:
            base = get_preset(str(data.pop("preset"))).to_dict()
        allowed = set(MetricsConfig.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown metrics config keys: {', '.join(unknown)}")
        merged = {**base, **data}
        if "rule" in merged:
            merged["rule"] = _rule_from_dict(merged["rule"])
        for key in (
            "ref_min_volume_mm3",
            "pred_min_volume_mm3",
            "empty_side_value",
            "dice_both_empty",
        ):
            if key in merged and merged[key] is not None:
                merged[key] = _number(key, merged[key])
        if "connectivity" in merged:
            merged["connectivity"] = _integer("connectivity", merged["connectivity"])
        return cls(**merged)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def _rule_from_dict(d: Any) -> Rule:
    if isinstance(d, OverlapRule | IoURule | AnimaRule):
        return d
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError('rule must be an object with a "kind": overlap, iou or anima')
    params = {k: v for k, v in d.items() if k != "kind"}
    kind = d["kind"]
    expected: dict[str, tuple[str, ...]] = {
        "overlap": (),
        "iou": ("tau", "strict"),
        "anima": ("alpha", "beta", "gamma"),
    }
    if kind not in expected:
        raise ValueError(f"rule kind must be one of overlap, iou, anima; got {kind!r}")
    unknown = sorted(set(params) - set(expected[kind]))
    if unknown:
        raise ValueError(f"unknown parameters for rule {kind}: {', '.join(unknown)}")
    if kind == "overlap":
        return OverlapRule()
    if kind == "iou":
        strict = params.get("strict", False)
        if not isinstance(strict, bool):
            raise ValueError("rule iou: strict must be true or false")
        return IoURule(tau=_number("rule iou: tau", params.get("tau", 0.5)), strict=strict)
    defaults = AnimaRule()
    return AnimaRule(
        alpha=_number("rule anima: alpha", params.get("alpha", defaults.alpha)),
        beta=_number("rule anima: beta", params.get("beta", defaults.beta)),
        gamma=_number("rule anima: gamma", params.get("gamma", defaults.gamma)),
    )


def _validate(c: MetricsConfig) -> None:
    if not isinstance(c.name, str) or not c.name:
        raise ValueError("name must be a non-empty string")
    if c.connectivity not in CONNECTIVITIES or isinstance(c.connectivity, bool):
        raise ValueError(f"connectivity must be 6, 18 or 26, got {c.connectivity!r}")
    for key in ("ref_min_volume_mm3", "pred_min_volume_mm3"):
        v = getattr(c, key)
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{key} must be a finite number >= 0 (mm³) or null, got {v!r}")
    if c.counting not in COUNTINGS:
        raise ValueError(f"counting must be per_side or one_to_one, got {c.counting!r}")
    if c.f1_formula not in F1_FORMULAS:
        raise ValueError(f"f1_formula must be harmonic or shifts, got {c.f1_formula!r}")
    if c.f1_formula == "shifts" and c.counting != "per_side":
        raise ValueError("f1_formula shifts needs counting per_side")
    for key in ("empty_side_value", "dice_both_empty"):
        v = getattr(c, key)
        if v is not None and not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"{key} must be in [0, 1] or null (NaN), got {v!r}")
    r = c.rule
    if isinstance(r, IoURule):
        if not (0.0 <= r.tau <= 1.0):
            raise ValueError(f"rule iou: tau must be in [0, 1], got {r.tau!r}")
        if r.tau == 0.0 and not r.strict:
            raise ValueError("rule iou: tau = 0 without strict would match disjoint lesions")
    elif isinstance(r, AnimaRule):
        for k in ("alpha", "beta", "gamma"):
            v = getattr(r, k)
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"rule anima: {k} must be in [0, 1], got {v!r}")
        if c.counting != "per_side":
            raise ValueError("rule anima decides each side on its own: counting must be per_side")
    elif not isinstance(r, OverlapRule):
        raise ValueError(f"rule must be OverlapRule, IoURule or AnimaRule, got {r!r}")


PRESETS: dict[str, MetricsConfig] = {
    "msseg": MetricsConfig(
        name="msseg",
        connectivity=6,
        ref_min_volume_mm3=3.0,
        pred_min_volume_mm3=3.0,
        rule=AnimaRule(0.10, 0.70, 0.65),
        counting="per_side",
    ),
    "wmh": MetricsConfig(
        name="wmh",
        connectivity=26,
        rule=OverlapRule(),
        counting="per_side",
        empty_side_value=1.0,
    ),
    "shifts": MetricsConfig(
        name="shifts",
        connectivity=6,
        rule=IoURule(0.25),
        counting="per_side",
        f1_formula="shifts",
    ),
    "instance": MetricsConfig(
        name="instance",
        connectivity=26,
        rule=IoURule(0.5),
        counting="one_to_one",
    ),
}
DEFAULT_PRESET = "msseg"


def get_preset(name: str) -> MetricsConfig:
    """The named preset; ValueError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown metrics preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None


def resolve_config(spec: str | dict[str, Any] | MetricsConfig | None) -> MetricsConfig:
    """A preset name, a JSON dict (see :meth:`MetricsConfig.from_dict`), a config, or None
    (the default preset, ``msseg``) -> a validated :class:`MetricsConfig`."""
    if spec is None:
        return PRESETS[DEFAULT_PRESET]
    if isinstance(spec, MetricsConfig):
        return spec
    if isinstance(spec, str):
        return get_preset(spec)
    return MetricsConfig.from_dict(spec)
