"""Synthetic FLAIR-like MS cases: a procedural brain phantom with lesions where MS puts them.

Pure numpy/scipy (no database, no web, no docker). Each case is a different "subject":

* anatomy in millimetres, rasterized on the chosen grid (``small``: 96×112×96 at 2 mm,
  ``full``: 182×218×182 at 1 mm, the MNI152 1 mm grid size): scalp, skull, subarachnoid CSF,
  a brain ellipsoid with a smoothly perturbed surface, sulci (CSF sheets lined by a 2-3 mm
  cortical ribbon), an interhemispheric fissure above the corpus callosum, lateral ventricles
  (bodies, frontal, occipital and temporal horns), a third ventricle and deep grey nuclei;
  head size and ventricle size (atrophy grows with lesion load) vary per subject;
* FLAIR contrast: CSF suppressed (dark), grey matter brighter than white matter, a faint normal
  periventricular rim (not a lesion), lesions 1.6-2.1× white matter; a T1-like image on request
  (lesions hypointense);
* lesions: ovoids (aspect 1.2-2.0) with irregular borders, periventricular ones oriented along
  the radial direction from the ventricles (Dawson's fingers), some confluent periventricular
  plaques made of several ovoids; about half periventricular, a fifth juxtacortical, the rest
  deep white matter; clipped to white matter; volumes log-normal (median ≈ 40 mm³) from more
  than 3 mm³ up to several mL; each lesion keeps more than ``floor(3 mm³ / voxel volume)``
  voxels, so the ``msseg`` preset's size filter keeps every reference lesion;
* lesion load stratified the way challenge test sets are: case ``i`` has the stratum
  ``LOAD_CYCLE[i % 4]`` (moderate 10-29 lesions, none, high 30-60, low 1-9), so any three
  consecutive cases include a lesion-free one and a high-load one;
* acquisition: a Gaussian point spread (0.6 voxel), a smooth multiplicative bias field
  (about ±15 %), Rician noise (magnitude of complex Gaussian noise), stored as int16.

Everything is deterministic: case ``i`` of seed ``s`` depends only on ``(s, i, size)``, so the
first cases of a larger set are the cases of a smaller one.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

SIZES: dict[str, tuple[tuple[int, int, int], float]] = {
    "small": ((96, 112, 96), 2.0),
    "full": ((182, 218, 182), 1.0),
}
LOAD_CYCLE = ("moderate", "none", "high", "low")
LOAD_COUNTS = {"none": (0, 0), "low": (1, 9), "moderate": (10, 29), "high": (30, 60)}
MIN_LESION_MM3 = 3.0
KIND_P = {"periventricular": 0.5, "juxtacortical": 0.2, "deep": 0.3}
BG, SCALP, SKULL, CSF, GM, WM, DEEP_GM = range(7)
FLAIR = {BG: 0.0, SCALP: 0.62, SKULL: 0.06, CSF: 0.08, GM: 0.75, WM: 0.55, DEEP_GM: 0.64}
T1 = {BG: 0.0, SCALP: 0.8, SKULL: 0.05, CSF: 0.18, GM: 0.55, WM: 0.85, DEEP_GM: 0.68}
# (side-mirrored) ventricle ellipsoids: centre (x, y, z) and semi-axes, mm
VENTRICLES = [((9, -4, 12), (4.5, 24, 6.5)), ((10, 18, 9), (5, 10, 7)), ((13, -26, 9), (5, 10, 6)),
              ((26, -8, -14), (3, 12, 3.5))]
DEEP_NUCLEI = [((11, -12, 4), (8, 14, 9)), ((22, 4, 0), (6, 14, 10)), ((13, 14, 10), (5, 8, 8))]


@dataclass(frozen=True)
class Lesion:
    kind: str
    center_mm: tuple[float, float, float]
    n_voxels: int
    volume_mm3: float


@dataclass
class SynthCase:
    case_id: str
    stratum: str
    affine: np.ndarray
    flair: np.ndarray  # int16
    reference: np.ndarray  # uint8, 1 = lesion
    tissue: np.ndarray  # uint8 labels BG..DEEP_GM, before lesions
    lesions: list[Lesion] = field(default_factory=list)
    t1: np.ndarray | None = None

    @property
    def voxel_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))


def grid(size: str) -> tuple[tuple[int, int, int], float, np.ndarray]:
    """Shape, spacing (mm) and an affine (RAS, origin at the grid centre) of a named size."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {sorted(SIZES)}")
    shape, spacing = SIZES[size]
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -(np.array(shape) - 1) / 2 * spacing
    return shape, spacing, affine


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], spacing: float,
                 corr_mm: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth random field with correlation length ``corr_mm``."""
    coarse = tuple(max(2, int(np.ceil(s * spacing / corr_mm)) + 1) for s in shape)
    noise = ndimage.gaussian_filter(rng.standard_normal(coarse).astype(np.float32), 0.5)
    noise /= noise.std()
    # Trilinear upsampling of smoothed coarse noise: smooth enough, 5× faster than cubic.
    zoomed = ndimage.zoom(noise, [s / c for s, c in zip(shape, coarse, strict=True)], order=1,
                          grid_mode=True, mode="nearest")
    return zoomed[tuple(slice(0, s) for s in shape)]


def _ellipsoid(coords: list[np.ndarray], center: tuple[float, ...],
               axes: tuple[float, ...]) -> np.ndarray:
    total = sum(((c - m) / a) ** 2 for c, m, a in zip(coords, center, axes, strict=True))
    return np.asarray(total) <= 1.0


Regions = dict[str, np.ndarray]


def _anatomy(rng: np.random.Generator, shape: tuple[int, int, int], spacing: float,
             affine: np.ndarray, ventricle_scale: float) -> tuple[np.ndarray, Regions]:
    """Tissue labels and the masks (and ventricle distance map, mm) lesions are placed in."""
    coords = [(np.arange(n, dtype=np.float32) * spacing + affine[i, 3]).reshape(
        [-1 if j == i else 1 for j in range(3)]) for i, n in enumerate(shape)]
    head = rng.normal(1.0, 0.03)
    head_axes = (72 * head, 94 * head, 80 * head)
    r_head = np.sqrt(sum((c / a) ** 2 for c, a in zip(coords, head_axes, strict=True)))
    brain_axes = tuple(a * 0.84 for a in head_axes)
    r_brain = np.sqrt(sum((c / a) ** 2 for c, a in zip(coords, brain_axes, strict=True)))
    brain = r_brain < 1.0 + 0.03 * smooth_field(rng, shape, spacing, 30.0)
    tissue = np.zeros(shape, dtype=np.uint8)
    tissue[r_head < 1.0] = SCALP
    tissue[r_head < 0.94] = SKULL
    tissue[r_head < 0.87] = CSF

    x, y, z = coords
    ventricles = np.zeros(shape, dtype=bool)
    for (cx, cy, cz), axes in VENTRICLES:
        grown = (axes[0] * ventricle_scale, axes[1] * (0.5 + ventricle_scale / 2),
                 axes[2] * ventricle_scale)
        for side in (-1, 1):
            ventricles |= _ellipsoid(coords, (side * cx, cy, cz), grown)
    ventricles |= _ellipsoid(coords, (0, -6, 0), (1.5 * ventricle_scale, 14, 8))
    ventricles &= brain
    callosum = (np.abs(y) < 38) & (z > -6) & (z < 22)
    fissure = (np.abs(x) < 0.8 * spacing + 0.6) & ~callosum
    depth = ndimage.distance_transform_edt(brain, sampling=spacing)
    sulcal_depth = 6.0 + 4.0 * (smooth_field(rng, shape, spacing, 25.0) + 1.0)
    sulci = (np.abs(smooth_field(rng, shape, spacing, 9.0)) < 0.04 + 0.06 * spacing) \
        & (depth < sulcal_depth)
    outer_csf = ~brain | fissure | sulci
    to_csf = ndimage.distance_transform_edt(~outer_csf, sampling=spacing)
    cortex = brain & ~outer_csf & ~ventricles \
        & (to_csf <= 3.0 + 0.5 * smooth_field(rng, shape, spacing, 20.0))
    tissue[brain] = WM
    for center, axes in DEEP_NUCLEI:
        for side in (-1, 1):
            tissue[_ellipsoid(coords, (side * center[0], *center[1:]), axes) & brain] = DEEP_GM
    tissue[cortex] = GM
    tissue[brain & (outer_csf | ventricles)] = CSF
    wm = tissue == WM
    to_ventricle = ndimage.distance_transform_edt(~ventricles, sampling=spacing)
    to_cortex = ndimage.distance_transform_edt(tissue != GM, sampling=spacing)
    regions = {
        "periventricular": wm & (to_ventricle >= 1.0) & (to_ventricle <= 9.0),
        "juxtacortical": wm & (to_cortex <= 3.5) & (to_ventricle > 12.0),
        "deep": wm & (to_ventricle > 10.0) & (to_cortex > 6.0),
        "rim": wm & (to_ventricle <= 1.5 + spacing / 2),
        "to_ventricle": to_ventricle,
    }
    return tissue, regions


def _lesion_volume(rng: np.random.Generator, kind: str, confluent: bool) -> float:
    if confluent:
        return float(np.exp(rng.uniform(np.log(800.0), np.log(8000.0))))
    median = 25.0 if kind == "juxtacortical" else 40.0
    return float(np.clip(median * np.exp(rng.normal(0.0, 1.1)), 4.0, 1500.0))


def _ovoid(rng: np.random.Generator, points: np.ndarray, volume: float,
           axis: np.ndarray) -> np.ndarray:
    """Mask of an irregular ovoid of ~``volume`` mm³ at the origin of ``points`` (N×3, mm)."""
    elong = rng.uniform(1.2, 2.0)
    a = (3 * volume / (4 * np.pi * elong)) ** (1 / 3)
    t = points @ axis
    perp2 = np.einsum("ij,ij->i", points, points) - t**2
    v1, v2 = rng.standard_normal((2, 3))
    bumps = 1 + 0.2 * np.cos(points @ v1 / a + rng.uniform(0, 6.3)) \
        * np.cos(points @ v2 / a + rng.uniform(0, 6.3))
    return (t / (a * elong)) ** 2 + perp2 / a**2 <= bumps  # type: ignore[no-any-return]


def _radial(to_ventricle: np.ndarray, idx: tuple[int, int, int]) -> np.ndarray:
    grad = np.array([
        float(to_ventricle[tuple(min(max(i + d * (k == ax), 0), n - 1) for k, (i, n)
                                 in enumerate(zip(idx, to_ventricle.shape, strict=True)))])
        for ax in range(3) for d in (1, -1)]).reshape(3, 2)
    vec = grad[:, 0] - grad[:, 1]
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)  # type: ignore[no-any-return]


def _place_lesion(rng: np.random.Generator, kind: str, regions: dict[str, np.ndarray],
                  candidates: np.ndarray, wm: np.ndarray, spacing: float,
                  min_voxels: int) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """One lesion (box slices, mask in the box) clipped to white matter, or None."""
    confluent = kind == "periventricular" and rng.random() < 0.12
    volume = _lesion_volume(rng, kind, confluent)
    center = candidates[rng.integers(len(candidates))]
    axis = _radial(regions["to_ventricle"], tuple(center)) if kind == "periventricular" \
        else _unit(rng)
    parts = [(np.zeros(3), volume)]
    if confluent:
        n = int(rng.integers(3, 6))
        step = (3 * volume / n / (4 * np.pi)) ** (1 / 3)
        offsets = np.cumsum([np.zeros(3)] + [_unit(rng) * step * 1.3 for _ in range(n - 1)], 0)
        parts = [(o, volume / n) for o in offsets]
    reach = max(np.linalg.norm(o) for o, _ in parts) + 2.2 * (max(v for _, v in parts)) ** (1 / 3)
    half = int(np.ceil(reach / spacing)) + 1
    lo = np.maximum(center - half, 0)
    hi = np.minimum(center + half + 1, wm.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    offs = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij"), -1)
    pts = ((offs - center) * spacing).reshape(-1, 3).astype(np.float64)
    flat = np.zeros(len(pts), dtype=bool)
    for offset, part_volume in parts:
        flat |= _ovoid(rng, pts - offset, part_volume, axis)
    mask = flat.reshape(offs.shape[:3])
    mask[tuple(int(c - s.start) for c, s in zip(center, box, strict=True))] = True
    mask &= wm[box]
    labels, n = ndimage.label(mask)  # clipping may cut off pieces: keep the largest (6-conn.)
    if n > 1:
        mask = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    if mask.sum() < min_voxels:
        return None
    return box, mask


def make_case(seed: int, index: int, size: str = "small", *, t1: bool = False) -> SynthCase:
    """Case ``index`` of the set ``seed`` (see the module docstring for what it contains)."""
    shape, spacing, affine = grid(size)
    rng = np.random.default_rng([seed, index, 0 if size == "small" else 1])
    stratum = LOAD_CYCLE[index % len(LOAD_CYCLE)]
    low, high = LOAD_COUNTS[stratum]
    n_lesions = int(rng.integers(low, high + 1))
    level = LOAD_CYCLE.index(stratum)
    ventricle_scale = float(np.clip(rng.normal(1.0 + 0.12 * [1, 0, 2, 0.5][level], 0.08),
                                    0.8, 1.6))
    tissue, regions = _anatomy(rng, shape, spacing, affine, ventricle_scale)
    wm = tissue == WM
    voxel = spacing**3
    min_voxels = int(np.floor(MIN_LESION_MM3 / voxel)) + 1
    candidates = {k: np.argwhere(regions[k]) for k in KIND_P}
    kinds = list(KIND_P)
    reference = np.zeros(shape, dtype=np.uint8)
    lesion_value = np.zeros(shape, dtype=np.float32)
    lesions: list[Lesion] = []
    attempts = 0
    while len(lesions) < n_lesions and attempts < 50 * max(n_lesions, 1):
        attempts += 1
        kind = kinds[int(rng.choice(len(kinds), p=list(KIND_P.values())))]
        if not len(candidates[kind]):
            continue
        placed = _place_lesion(rng, kind, regions, candidates[kind], wm, spacing, min_voxels)
        if placed is None:
            continue
        box, mask = placed
        reference[box][mask] = 1
        lesion_value[box][mask] = np.maximum(lesion_value[box][mask],
                                             rng.uniform(1.6, 2.1) * FLAIR[WM])
        center = [float(s.start + np.mean(np.nonzero(mask)[k])) for k, s in enumerate(box)]
        center_mm = tuple(float(v) for v in affine[:3, :3] @ center + affine[:3, 3])
        n = int(mask.sum())
        lesions.append(Lesion(kind, center_mm, n, n * voxel))  # type: ignore[arg-type]

    def render(contrast: dict[int, float], lesion: np.ndarray | float) -> np.ndarray:
        jitter = {k: v * rng.normal(1.0, 0.03) for k, v in contrast.items()}
        image = np.choose(tissue, [jitter[k] for k in range(7)]).astype(np.float32)
        if contrast is FLAIR:
            image[regions["rim"]] *= 1.15  # normal periventricular FLAIR rim
        image = np.where(reference > 0, lesion, image).astype(np.float32)
        image = ndimage.gaussian_filter(image, 0.6)
        bias = np.exp(0.12 * smooth_field(rng, shape, spacing, 120.0))
        sigma = 0.025
        noisy = np.hypot(image * bias + rng.normal(0, sigma, shape),
                         rng.normal(0, sigma, shape))
        return np.round(noisy * 1000).clip(0, 32767).astype(np.int16)  # type: ignore[no-any-return]

    flair = render(FLAIR, lesion_value)
    t1_image = render(T1, 0.6 * T1[WM]) if t1 else None
    return SynthCase(f"case{index + 1:03d}", stratum, affine, flair, reference, tissue,
                     lesions, t1_image)


def _nii_gz(array: np.ndarray, affine: np.ndarray) -> bytes:
    image = nib.Nifti1Image(array, affine)
    image.header.set_xyzt_units("mm", "sec")
    image.header.set_qform(affine, code=1)
    image.header.set_sform(affine, code=1)
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


#: How synthetic raters differ from the phantom's truth, per lesion: probabilities of growing
#: and of shrinking its boundary by one voxel; lesions under ``RATER_SMALL_MM3`` are missed
#: with ``RATER_MISS_P``; with ``RATER_MERGE_P`` a rater joins lesions at most two voxels apart.
RATER_GROW_P, RATER_SHRINK_P = 0.35, 0.25
RATER_SMALL_MM3, RATER_MISS_P = 30.0, 0.4
RATER_MERGE_P = 0.5


def rater_masks(case: SynthCase, n_raters: int, seed: int) -> dict[str, np.ndarray]:
    """``n_raters`` expert-like variants of ``case.reference`` (uint8, 1 = lesion), named
    ``rater1``... Each rater, independently: moves each lesion's boundary out or in by one
    voxel (6-connected), misses small lesions (under ``RATER_SMALL_MM3``), and may merge
    neighbouring lesions (a closing that bridges gaps of up to two voxels). Deterministic:
    rater ``r`` of a case depends only on (``seed``, the case id, ``r``)."""
    labels, n = ndimage.label(case.reference > 0)
    boxes = ndimage.find_objects(labels)
    out = {}
    for r in range(n_raters):
        rng = np.random.default_rng([seed, r, *case.case_id.encode()])
        mask = np.zeros_like(case.reference, dtype=bool)
        for k, box in enumerate(boxes, start=1):
            if box is None:
                continue
            padded = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
            lesion = labels[padded] == k
            size_mm3 = float(lesion.sum()) * case.voxel_mm3
            draw = rng.random(2)
            if size_mm3 < RATER_SMALL_MM3 and draw[0] < RATER_MISS_P:
                continue
            if draw[1] < RATER_GROW_P:
                lesion = ndimage.binary_dilation(lesion) & (case.tissue[padded] > 0)
            elif draw[1] < RATER_GROW_P + RATER_SHRINK_P:
                eroded = ndimage.binary_erosion(lesion)
                lesion = eroded if eroded.any() else lesion
            mask[padded] |= lesion
        if rng.random() < RATER_MERGE_P:
            mask = ndimage.binary_closing(mask, iterations=1) | mask
        out[f"rater{r + 1}"] = mask.astype(np.uint8)
    return out


def write_case(case: SynthCase, out: Path, *, raters: int = 0, seed: int = 0) -> None:
    """Write ``inputs/<case>/flair.nii.gz`` (+ ``t1``) and ``references/<case>.nii.gz``; with
    ``raters`` (two or more) also ``references/<case>/rater<r>.nii.gz`` (:func:`rater_masks`
    with ``seed``)."""
    inputs = out / "inputs" / case.case_id
    inputs.mkdir(parents=True, exist_ok=True)
    (out / "references").mkdir(parents=True, exist_ok=True)
    (inputs / "flair.nii.gz").write_bytes(_nii_gz(case.flair, case.affine))
    if case.t1 is not None:
        (inputs / "t1.nii.gz").write_bytes(_nii_gz(case.t1, case.affine))
    (out / "references" / f"{case.case_id}.nii.gz").write_bytes(
        _nii_gz(case.reference, case.affine))
    if raters:
        folder = out / "references" / case.case_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, mask in rater_masks(case, raters, seed).items():
            (folder / f"{name}.nii.gz").write_bytes(_nii_gz(mask, case.affine))


def write_dataset(out: Path, n_cases: int, seed: int, size: str = "small", *,
                  t1: bool = False, first: int = 0) -> list[SynthCase]:
    """Generate and write cases ``first .. first+n_cases-1`` of set ``seed``; returns them."""
    cases = []
    for index in range(first, first + n_cases):
        case = make_case(seed, index, size, t1=t1)
        write_case(case, out)
        cases.append(case)
    return cases
