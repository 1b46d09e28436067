"""Synthetic raters: variants of the phantom's reference that differ the way experts do,
deterministic by seed, in the upload layout."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from challenge.cli.layout import check_layout
from evaluator import synth


def _lesions(mask: np.ndarray) -> int:
    return int(ndimage.label(mask)[1])


def test_raters_are_deterministic_and_differ_like_experts():
    case = synth.make_case(3, 2)  # a high-load case
    truth = case.reference.astype(bool)
    first = synth.rater_masks(case, 3, seed=3)
    assert sorted(first) == ["rater1", "rater2", "rater3"]
    again = synth.rater_masks(case, 3, seed=3)
    assert all(np.array_equal(first[r], again[r]) for r in first)
    other = synth.rater_masks(case, 3, seed=4)
    assert any(not np.array_equal(first[r], other[r]) for r in first)
    masks = {r: m.astype(bool) for r, m in first.items()}
    assert len({m.tobytes() for m in masks.values()}) == 3  # raters disagree
    for mask in masks.values():
        assert (mask & ~truth).any() or (truth & ~mask).any()  # boundaries moved
        dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
        assert 0.5 < dice < 1.0  # still the same lesions, roughly
    # missed small lesions and merges: fewer lesions than the truth for some rater
    assert min(_lesions(m) for m in masks.values()) < _lesions(truth)


def test_the_synth_command_writes_rater_masks_in_the_upload_layout(tmp_path):
    for index in range(2):
        synth.write_case(synth.make_case(5, index), tmp_path, raters=3, seed=5)
    layout = check_layout(tmp_path)
    names = sorted(name for _, name in layout.files)
    assert "references/case001/rater3.nii.gz" in names
    assert "references/case002.nii.gz" in names
    assert len(names) == 2 * (1 + 1 + 3)


def test_test_container_stages_each_cases_rater_masks(tmp_path):
    from challenge.cli.local import _stage
    from tests import factories as f

    root = f.rater_dataset(2, 3, consensus=False).write_dir(tmp_path / "data")
    layout = check_layout(root)
    staged = _stage(root, layout.cases, ["flair"], tmp_path / "work")
    assert [c.case_id for c in staged] == ["case000", "case001"]
    assert sorted(staged[1].raters) == ["rater1", "rater2", "rater3"]
    assert staged[1].raters["rater2"] == (root / "references/case001/rater2.nii.gz").resolve()
    assert not staged[0].reference.exists()  # raters only: no given consensus
