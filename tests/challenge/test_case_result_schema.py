"""The per-case answer of the evaluations API keeps stored counts as integers."""

from __future__ import annotations

import json

from challenge.evaluations.schemas import CaseResultPublic


def test_counts_stay_integers_and_undefined_values_null() -> None:
    row = CaseResultPublic(case_id="case000", status="ok", category=None,
                           metrics={"n_ref": 3, "tp": 0, "dice": 0.5, "avd_pct": None},
                           flags=[])
    assert json.loads(row.model_dump_json())["metrics"] == {
        "n_ref": 3, "tp": 0, "dice": 0.5, "avd_pct": None}
    assert '"n_ref":3,' in row.model_dump_json()  # not 3.0
