"""Benchmark of evaluator.metrics against medpy, and of NIfTI reading against gunzip.

Run by hand (not by pytest):  .venv/bin/python benchmarks/metrics.py [--repeat N]

For each grid (182×218×182 at 1 mm, 512×512×200 at 0.5×0.5×0.8 mm) a synthetic case with
about 40 lesions of 3–2000 voxels (misses, false positives, dilations, erosions, a merge,
a split) is written to two .nii.gz files. Printed, in milliseconds per case:
  ours      all four presets at once (evaluate_presets) on the arrays as loaded
  medpy     dc + obj_tpr + obj_fpr + ravd on the same arrays, and the ratio medpy / ours
  e2e       load_mask × 2 + evaluate_presets, against merely decompressing both files
Targets (DESIGN §4): ratio >= 20 at 182×218×182, >= 200 at 512×512×200; e2e <= 3× gunzip.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.io import load_mask  # noqa: E402
from evaluator.metrics import evaluate_presets  # noqa: E402

PRESETS = ["msseg", "wmh", "shifts", "instance"]
GRIDS = [((182, 218, 182), (1.0, 1.0, 1.0)), ((512, 512, 200), (0.5, 0.5, 0.8))]


def _blob(rng: np.random.Generator, n_voxels: int) -> np.ndarray:
    """A roughly ellipsoidal blob of about n_voxels voxels (at least 3)."""
    if n_voxels <= 4:
        b = np.zeros((1, 1, n_voxels), dtype=bool)
        b[:] = True
        return b
    radius = (3 * n_voxels / (4 * np.pi)) ** (1 / 3)
    r = int(np.ceil(radius * 1.4)) + 1
    zz, yy, xx = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1]
    s = rng.uniform(0.75, 1.3, size=3)
    return (zz / s[0]) ** 2 + (yy / s[1]) ** 2 + (xx / s[2]) ** 2 <= radius**2


def _put(mask: np.ndarray, blob: np.ndarray, corner: tuple[int, ...]) -> None:
    sl = tuple(slice(c, c + n) for c, n in zip(corner, blob.shape, strict=True))
    mask[sl] |= blob


def synthetic_case(
    shape: tuple[int, int, int], seed: int = 0, n_lesions: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """(pred, ref) bool arrays, lesions inside the central 60 % of the grid."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, dtype=bool)
    pred = np.zeros(shape, dtype=bool)
    lo = [int(0.2 * s) for s in shape]
    hi = [int(0.8 * s) - 30 for s in shape]

    def corner() -> tuple[int, int, int]:
        return tuple(int(rng.integers(a, b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]

    fates = ["same"] * 22 + ["dilate"] * 6 + ["erode"] * 5 + ["miss"] * 5
    for k in range(n_lesions - 2):
        size = int(np.exp(rng.uniform(np.log(3), np.log(2000))))
        blob = _blob(rng, size)
        c = corner()
        _put(ref, blob, c)
        fate = fates[k % len(fates)]
        if fate == "same":
            _put(pred, blob, tuple(x + int(rng.integers(0, 2)) for x in c))
        elif fate == "dilate":
            _put(
                pred,
                ndimage.binary_dilation(np.pad(blob, 2), iterations=2),
                tuple(x - 2 for x in c),
            )
        elif fate == "erode":
            _put(pred, ndimage.binary_erosion(blob) if blob.sum() > 30 else blob, c)
    for _ in range(6):  # false positives
        _put(pred, _blob(rng, int(rng.integers(3, 400))), corner())
    z, y, x = corner()  # a merge: two reference lesions bridged in the prediction
    ref[z : z + 5, y : y + 5, x : x + 5] = True
    ref[z : z + 5, y : y + 5, x + 7 : x + 12] = True
    pred[z : z + 5, y : y + 5, x : x + 12] = True
    z, y, x = corner()  # a split: one reference lesion, two predicted pieces
    ref[z : z + 6, y : y + 6, x : x + 16] = True
    pred[z : z + 6, y : y + 6, x : x + 7] = True
    pred[z : z + 6, y : y + 6, x + 9 : x + 16] = True
    return pred, ref


def _time_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)  # least disturbed run; same statistic for every column


def _medpy(pred: np.ndarray, ref: np.ndarray) -> None:
    from medpy.metric import binary

    binary.dc(pred, ref)
    binary.obj_tpr(pred, ref)
    binary.obj_fpr(pred, ref)
    binary.ravd(pred, ref)


def run(repeat: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape, spacing in GRIDS:
            pred, ref = synthetic_case(shape)
            affine = np.diag([*spacing, 1.0])
            p_path, r_path = Path(tmp) / "pred.nii.gz", Path(tmp) / "ref.nii.gz"
            nib.save(nib.Nifti1Image(pred.astype(np.uint8), affine), p_path)
            nib.save(nib.Nifti1Image(ref.astype(np.uint8), affine), r_path)
            cap = pred.size
            p = load_mask(p_path, max_voxels=cap).array  # Fortran-ordered, as in production
            r = load_mask(r_path, max_voxels=cap).array
            res = evaluate_presets(p, r, spacing, PRESETS)

            def ours_fn(p: np.ndarray = p, r: np.ndarray = r, sp: tuple = spacing) -> None:
                evaluate_presets(p, r, sp, PRESETS)

            def medpy_fn(p: np.ndarray = p, r: np.ndarray = r) -> None:
                _medpy(p, r)

            ours = _time_ms(ours_fn, repeat)
            medpy = _time_ms(medpy_fn, 1 if pred.size > 2e7 else 3)

            def e2e(pp: Path = p_path, rp: Path = r_path, sp=spacing, cap=cap) -> None:  # type: ignore[no-untyped-def]
                a = load_mask(pp, max_voxels=cap)
                b = load_mask(rp, max_voxels=cap)
                evaluate_presets(a.array, b.array, sp, PRESETS)

            def gunzip(pp: Path = p_path, rp: Path = r_path) -> None:
                gzip.decompress(pp.read_bytes())
                gzip.decompress(rp.read_bytes())

            rows.append((shape, res, ours, medpy, _time_ms(e2e, repeat), _time_ms(gunzip, repeat)))

    print(
        f"{'grid':>13} {'lesions R/P':>11} {'ours ms':>8} {'medpy ms':>9} {'ratio':>7}"
        f" {'target':>6} {'e2e ms':>7} {'gunzip ms':>9} {'e2e/gunzip':>10}"
    )
    for shape, res, ours, medpy, e2e_ms, gz_ms in rows:
        les = res["wmh"].lesions
        target = 20 if shape[0] < 300 else 200
        print(
            f"{'x'.join(map(str, shape)):>13} {les.n_ref:>5}/{les.n_pred:<5} {ours:8.1f}"
            f" {medpy:9.1f} {medpy / ours:7.0f} {target:>6} {e2e_ms:7.1f} {gz_ms:9.1f}"
            f" {e2e_ms / gz_ms:10.2f}"
        )
    print(
        "\nlesion F1 per preset (first grid):",
        ", ".join(f"{k} {v.lesions.f1:.3f}" for k, v in rows[0][1].items()),
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per measurement")
    run(ap.parse_args().repeat)
