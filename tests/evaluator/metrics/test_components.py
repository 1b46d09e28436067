"""Connected components, connectivity and the V_min filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from evaluator.metrics import binarize, evaluate_case, label_components, min_voxels, remove_small
from evaluator.metrics.components import foreground
from tests.evaluator.metrics.lesion_phantoms import with_boxes, with_voxels

SHAPE = (8, 8, 8)


def _n_lesions(mask: np.ndarray, connectivity: int) -> int:
    return label_components(foreground(mask), mask.shape, connectivity).n


@pytest.mark.parametrize(
    ("voxels", "expected"),
    [
        # share a face: one lesion at every connectivity
        (((2, 2, 2), (2, 2, 3)), {6: 1, 18: 1, 26: 1}),
        # share an edge only (differ along two axes): 18 and 26 join them, 6 does not
        (((2, 2, 2), (2, 3, 3)), {6: 2, 18: 1, 26: 1}),
        # share a corner only (diagonal neighbours): only 26 joins them
        (((2, 2, 2), (3, 3, 3)), {6: 2, 18: 2, 26: 1}),
        # two voxels apart: never joined
        (((2, 2, 2), (2, 2, 4)), {6: 2, 18: 2, 26: 2}),
    ],
)
def test_connectivity_decides_whether_neighbours_are_one_lesion(
    voxels: tuple[tuple[int, int, int], ...], expected: dict[int, int]
) -> None:
    mask = with_voxels(SHAPE, *voxels)
    for connectivity, n in expected.items():
        assert _n_lesions(mask, connectivity) == n


def test_diagonal_neighbours_count_as_two_lesions_at_6_and_one_at_26_in_presets() -> None:
    # ref: two corner-touching voxels; pred identical. shifts (C=6) sees 2 lesions,
    # wmh (C=26) sees 1.
    mask = with_voxels(SHAPE, (2, 2, 2), (3, 3, 3))
    assert evaluate_case(mask, mask, (1, 1, 1), "shifts").lesions.n_ref == 2
    assert evaluate_case(mask, mask, (1, 1, 1), "wmh").lesions.n_ref == 1


def test_neighbours_do_not_wrap_around_the_array_edge() -> None:
    # (0, 0, 7) and (0, 1, 0) are consecutive in C order but not neighbours.
    mask = with_voxels(SHAPE, (0, 0, 7), (0, 1, 0))
    assert _n_lesions(mask, 26) == 2


def test_labels_partition_like_scipy_on_random_masks() -> None:
    rng = np.random.default_rng(3)
    for connectivity, rank in ((6, 1), (18, 2), (26, 3)):
        mask = rng.random((9, 10, 11)) < 0.3
        ours = label_components(foreground(mask), mask.shape, connectivity)
        lab, n = ndimage.label(mask, ndimage.generate_binary_structure(3, rank))
        assert ours.n == n
        theirs = lab.ravel()[ours.index]
        # same partition: the pairing of labels is a bijection
        pairs = set(zip(ours.labels.tolist(), theirs.tolist(), strict=True))
        assert len(pairs) == n


@pytest.mark.parametrize(
    ("v_min", "spacing", "expected"),
    [
        (3.0, (1.0, 1.0, 1.0), 3),  # 3 / 1 -> lesions of <= 3 voxels removed
        (3.0, (0.5, 0.5, 2.0), 6),  # voxel 0.5 mm³: 3 / 0.5 = 6
        (3.0, (1.0, 1.0, 3.0), 1),  # voxel 3 mm³: floor(1) = 1
        (3.0, (2.0, 2.0, 2.0), 0),  # voxel 8 mm³: floor(0.375) = 0, nothing removed
        (None, (1.0, 1.0, 1.0), 0),
    ],
)
def test_min_voxels_is_floor_of_vmin_over_voxel_volume(
    v_min: float | None, spacing: tuple[float, float, float], expected: int
) -> None:
    assert min_voxels(v_min, spacing) == expected


def test_remove_small_drops_lesions_at_or_below_the_limit_and_renumbers() -> None:
    # lesions of 3, 4 and 1 voxels, separated; limit 3 keeps only the 4-voxel one
    mask = with_boxes((6, 6, 12), np.s_[0, 0, 0:3], np.s_[3, 3, 0:4], np.s_[5, 5, 10:11])
    comp = remove_small(label_components(foreground(mask), mask.shape, 6), 3)
    assert comp.n == 1
    assert comp.sizes.tolist() == [4, 4]  # 3 + 1 removed voxels under label 0; 4 kept
    assert sorted(set(comp.labels.tolist())) == [0, 1]


@pytest.mark.parametrize(
    ("spacing", "size", "kept"),
    [
        # isotropic 1 mm: V_min 3 mm³ removes a 3-voxel lesion (3 mm³ <= 3), keeps 4 voxels
        ((1.0, 1.0, 1.0), 3, False),
        ((1.0, 1.0, 1.0), 4, True),
        # anisotropic 0.5 x 0.5 x 2 mm (0.5 mm³): 6 voxels = 3 mm³ removed, 7 kept
        ((0.5, 0.5, 2.0), 6, False),
        ((0.5, 0.5, 2.0), 7, True),
    ],
)
def test_msseg_vmin_just_below_and_just_above(
    spacing: tuple[float, float, float], size: int, kept: bool
) -> None:
    ref = with_boxes((4, 4, 12), np.s_[1, 1, 0:size])
    res = evaluate_case(ref, ref, spacing, "msseg")
    assert res.lesions.n_ref == (1 if kept else 0)
    # the removed lesion still counts for Dice and volumes
    assert res.dice == 1.0
    assert res.ref_volume_ml == pytest.approx(size * np.prod(spacing) / 1000, rel=1e-12)
    if not kept:
        assert "empty_reference" in res.flags
        assert res.lesions.f1 == 1.0  # both sides without lesions


def test_binarize_rules() -> None:
    ints = np.array([-1, 0, 1, 2], dtype=np.int16)
    assert binarize(ints).tolist() == [False, False, True, True]
    floats = np.array([0.0, 0.49, 0.5, 1.0], dtype=np.float32)
    assert binarize(floats).tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="NaN"):
        binarize(np.array([0.0, np.nan]))
