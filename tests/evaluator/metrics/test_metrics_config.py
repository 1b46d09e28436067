"""MetricsConfig: presets, JSON round trip, validation messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evaluator.metrics import (
    PRESETS,
    AnimaRule,
    IoURule,
    MetricsConfig,
    OverlapRule,
    resolve_config,
)


def test_presets_match_the_design_table() -> None:
    msseg = PRESETS["msseg"]
    assert (msseg.connectivity, msseg.ref_min_volume_mm3, msseg.pred_min_volume_mm3) == (6, 3, 3)
    assert msseg.rule == AnimaRule(0.10, 0.70, 0.65) and msseg.counting == "per_side"
    wmh = PRESETS["wmh"]
    assert (wmh.connectivity, wmh.rule, wmh.empty_side_value) == (26, OverlapRule(), 1.0)
    shifts = PRESETS["shifts"]
    assert (shifts.connectivity, shifts.rule, shifts.f1_formula) == (6, IoURule(0.25), "shifts")
    inst = PRESETS["instance"]
    assert (inst.connectivity, inst.rule, inst.counting) == (26, IoURule(0.5), "one_to_one")
    assert resolve_config(None) is msseg


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name: str) -> None:
    cfg = PRESETS[name]
    again = MetricsConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert resolve_config(cfg.to_dict()) == cfg


def test_preset_with_overrides() -> None:
    cfg = resolve_config({"preset": "msseg", "name": "msseg-18", "connectivity": 18})
    assert cfg.connectivity == 18 and cfg.rule == PRESETS["msseg"].rule


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"connectivity": 8}, "connectivity must be 6, 18 or 26"),
        ({"connectivity": "6"}, "connectivity must be an integer"),
        ({"ref_min_volume_mm3": -1}, "ref_min_volume_mm3 must be a finite number >= 0"),
        ({"rule": {"kind": "dice"}}, "rule kind must be one of"),
        ({"rule": {"kind": "iou", "tau": 1.5}}, "tau must be in"),
        ({"rule": {"kind": "iou", "tau": 0.0}}, "tau = 0 without strict"),
        ({"rule": {"kind": "anima", "beta": 2}}, "beta must be in"),
        ({"rule": {"kind": "anima", "delta": 2}}, "unknown parameters for rule anima"),
        ({"rule": {"kind": "anima"}, "counting": "one_to_one"}, "counting must be per_side"),
        ({"counting": "bipartite"}, "counting must be per_side or one_to_one"),
        ({"f1_formula": "shifts", "counting": "one_to_one"}, "needs counting per_side"),
        ({"dice_both_empty": 2}, "dice_both_empty must be in"),
        ({"colour": "red"}, "unknown metrics config keys: colour"),
        ({"preset": "nope"}, "unknown metrics preset"),
    ],
)
def test_invalid_configs_are_refused_with_clear_messages(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MetricsConfig.from_dict(data)


def test_config_is_frozen_and_hashable() -> None:
    cfg = PRESETS["wmh"]
    with pytest.raises(AttributeError):
        cfg.connectivity = 6  # type: ignore[misc]
    assert len({cfg, MetricsConfig.from_dict(cfg.to_dict())}) == 1
