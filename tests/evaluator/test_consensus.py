"""The consensus of several raters against SimpleITK on the same masks, and the per-rater and
baseline metrics against ``evaluate_case`` (DESIGN section 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from evaluator import consensus, raters
from evaluator.metrics import evaluate_case, get_preset
from evaluator.spec import ReferenceSpec
from tests import factories as f


def _masks(n: int, seed: int, shape=(12, 10, 9)) -> list[np.ndarray]:
    """``n`` overlapping noisy blobs: raters who mostly agree."""
    rng = np.random.default_rng(seed)
    core = np.zeros(shape, bool)
    core[3:9, 2:8, 2:7] = True
    return [(core ^ (rng.random(shape) < 0.15)) for _ in range(n)]


def _sitk(mask: np.ndarray) -> sitk.Image:
    return sitk.GetImageFromArray(mask.astype(np.uint8))


@pytest.mark.parametrize(("n", "seed"), [(3, 0), (5, 1), (7, 2)])
def test_majority_equals_simpleitk_label_voting_for_odd_counts(n, seed):
    masks = _masks(n, seed)
    voting = sitk.LabelVotingImageFilter()
    voting.SetLabelForUndecidedPixels(255)
    expected = sitk.GetArrayFromImage(voting.Execute([_sitk(m) for m in masks])) == 1
    got = consensus.majority(masks)
    assert got.dtype == bool and np.array_equal(got, expected)
    assert 0 < got.sum() < got.size


def test_majority_is_strict_a_tie_is_background():
    a = np.zeros((2, 2, 2), bool)
    b = a.copy()
    a[0, 0, 0] = b[0, 0, 0] = True  # 2 of 4: tie
    a[1, 1, 1] = b[1, 1, 1] = True
    c = a.copy()  # voxel (1,1,1): 3 of 4
    d = np.zeros_like(a)
    c[0, 0, 0] = False
    got = consensus.majority([a, b, c, d])
    assert got[1, 1, 1] and not got[0, 0, 0] and got.sum() == 1
    assert np.array_equal(consensus.majority([a]), a)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_staple_equals_simpleitk_staple_with_the_same_parameters(threshold):
    masks = _masks(4, 7)
    staple = sitk.STAPLEImageFilter()
    staple.SetForegroundValue(1.0)
    probability = sitk.GetArrayFromImage(staple.Execute([_sitk(m) for m in masks]))
    expected = probability >= threshold
    got = consensus.staple(masks, threshold=threshold, foreground=1)
    assert np.array_equal(got, expected)
    assert np.allclose(consensus.staple_probability(masks), probability)
    assert 0 < got.sum() < got.size


def test_staple_of_one_mask_is_that_mask():
    [mask] = _masks(1, 3)
    assert np.array_equal(consensus.staple([mask], threshold=0.5), mask)


def test_leave_one_out_votes_among_the_others_only():
    masks = dict(zip(("a", "b", "c"), _masks(3, 4), strict=True))
    loo = consensus.leave_one_out("majority", masks)
    for name in masks:
        others = [masks[o] for o in sorted(masks) if o != name]
        assert np.array_equal(loo[name], others[0] & others[1])  # 2 of 2 is a strict majority
    staple = consensus.leave_one_out("staple", masks, threshold=0.5)
    assert np.array_equal(staple["a"], consensus.staple([masks["b"], masks["c"]], threshold=0.5))
    # "consensus" mode builds its leave-one-out references by majority (documented rule)
    given = consensus.leave_one_out("consensus", masks)
    assert all(np.array_equal(given[n], loo[n]) for n in masks)
    with pytest.raises(ValueError, match="at least two raters"):
        consensus.leave_one_out("majority", {"a": masks["a"]})


def test_ranked_reference_follows_the_mode():
    masks = dict(zip(("r1", "r2", "r3"), _masks(3, 5), strict=True))
    given = masks["r1"] | masks["r2"]
    assert np.array_equal(consensus.ranked_reference("consensus", masks, given), given)
    assert np.array_equal(consensus.ranked_reference("majority", masks, given),
                          consensus.majority(list(masks.values())))
    with pytest.raises(ValueError, match="has none"):
        consensus.ranked_reference("consensus", masks, None)


def _case_on_disk(tmp_path: Path, seed: int = 0):
    masks = f.rater_masks(1, 3, seed=seed)["case000"]
    paths = {}
    for name, mask in masks.items():
        paths[name] = tmp_path / f"{name}.nii.gz"
        paths[name].write_bytes(f.nifti_bytes(mask, zooms=(1.0, 1.5, 2.0)))
    given = tmp_path / "consensus.nii.gz"
    given.write_bytes(f.nifti_bytes(masks["rater1"], zooms=(1.0, 1.5, 2.0)))
    return {n: m.astype(bool) for n, m in masks.items()}, paths, given


@pytest.mark.parametrize("mode", ["consensus", "majority", "staple"])
def test_per_rater_metrics_equal_evaluate_case_against_each_rater(tmp_path, mode):
    masks, paths, given = _case_on_disk(tmp_path)
    spec = ReferenceSpec(mode=mode)
    refs = raters.load(given, paths, spec, max_voxels=10**6)
    prediction = np.zeros((8, 8, 8), bool)
    prediction[2:5, 2:4, 2:4] = True
    config = get_preset("msseg")
    got = raters.against_raters(prediction, refs, config)
    assert sorted(got) == ["rater1", "rater2", "rater3"]
    for name, mask in masks.items():
        assert got[name] == evaluate_case(prediction, mask, (1.0, 1.5, 2.0),
                                          config).as_flat_dict()
    expected_ranked = consensus.ranked_reference(mode, masks, masks["rater1"])
    assert np.array_equal(refs.ranked.array, expected_ranked)
    assert tuple(refs.ranked.spacing) == (1.0, 1.5, 2.0)


@pytest.mark.parametrize("mode", ["majority", "staple"])
def test_baseline_scores_each_rater_against_the_others_consensus(tmp_path, mode):
    masks, paths, given = _case_on_disk(tmp_path, seed=3)
    spec = ReferenceSpec(mode=mode, staple_threshold=0.5)
    refs = raters.load(given, paths, spec, max_voxels=10**6)
    config = get_preset("wmh")
    got = raters.baseline(refs, spec, config)
    others = consensus.leave_one_out(mode, masks, threshold=0.5)
    for name, mask in masks.items():
        assert got[name] == evaluate_case(mask, others[name], (1.0, 1.5, 2.0),
                                          config).as_flat_dict()
    assert len({got[n]["dice"] for n in got}) > 1  # the raters differ


def test_a_single_reference_case_has_no_raters_and_no_baseline(tmp_path):
    _, _, given = _case_on_disk(tmp_path)
    refs = raters.load(given, {}, ReferenceSpec(mode="staple"), max_voxels=10**6)
    assert refs.raters == {}
    assert raters.baseline(refs, ReferenceSpec(), get_preset("msseg")) == {}
    assert raters.against_raters(refs.ranked.array, refs, get_preset("msseg")) == {}
