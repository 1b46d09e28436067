"""Baseline MS lesion segmentation: bias-normalized FLAIR threshold inside a brain mask.

numpy + nibabel only (the platform's base image has no scipy). For every case in /input:

1. brain mask: voxels brighter than half the head's median, eroded twice so the bright scalp
   lets go of the brain, the largest connected component kept, dilated back;
2. bias normalization: divide FLAIR by its local mean over brain voxels (a 31 mm box, from
   cumulative sums), so a smooth intensity drift does not move the threshold;
3. robust threshold: lesions are hyperintense on FLAIR, so keep brain voxels above
   median + K * 1.4826 * MAD of the normalized brain intensities; a second pass recomputes
   the local means and the statistics without the first pass's lesions;
4. cleanup: drop voxels on the brain's outer voxel (partial volume with CSF) and
   connected components smaller than MIN_LESION_MM3.

Writes a uint8 mask on the FLAIR grid to /output/<case_id>.nii.gz.
"""

import os
import sys

import nibabel as nib
import numpy as np

K = 5.0
MIN_LESION_MM3 = 20.0
BOX_MM = 31.0
SHIFTS = [(a, d) for a in range(3) for d in (1, -1)]


def shifted(mask, axis, step):
    """``mask`` moved one voxel along ``axis`` (zeros enter at the edge)."""
    out = np.zeros_like(mask)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    src[axis] = slice(0, -1) if step > 0 else slice(1, None)
    dst[axis] = slice(1, None) if step > 0 else slice(0, -1)
    out[tuple(dst)] = mask[tuple(src)]
    return out


def erode(mask, n=1):
    for _ in range(n):
        for axis, step in SHIFTS:
            mask = mask & shifted(mask, axis, step)
    return mask


def dilate(mask, n=1):
    for _ in range(n):
        grown = mask.copy()
        for axis, step in SHIFTS:
            grown |= shifted(mask, axis, step)
        mask = grown
    return mask


def components(mask):
    """6-connected component labels (0 = background) by min-label propagation."""
    labels = np.where(mask, np.arange(1, mask.size + 1, dtype=np.int64).reshape(mask.shape), 0)
    big = np.iinfo(np.int64).max
    while True:
        current = np.where(mask, labels, big)
        best = current.copy()
        for axis, step in SHIFTS:
            moved = np.full_like(current, big)
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[axis] = slice(0, -1) if step > 0 else slice(1, None)
            dst[axis] = slice(1, None) if step > 0 else slice(0, -1)
            moved[tuple(dst)] = current[tuple(src)]
            np.minimum(best, moved, out=best)
        best = np.where(mask, best, 0)
        if np.array_equal(best, labels):
            break
        labels = best
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(mask.shape)  # background (0) stays 0: it sorts first


def box_mean(values, weights, half):
    """Weighted local mean over a (2*half+1)^3 box, via cumulative sums on each axis."""
    def box(a):
        for axis, h in enumerate(half):
            c = np.cumsum(a, axis=axis, dtype=np.float64)
            pad = [(0, 0)] * 3
            pad[axis] = (h + 1, h)
            c = np.pad(c, pad, mode="edge")
            c[tuple(slice(0, h + 1) if i == axis else slice(None) for i in range(3))] = 0
            n = a.shape[axis]
            hi = [slice(None)] * 3
            lo = [slice(None)] * 3
            hi[axis] = slice(2 * h + 1, 2 * h + 1 + n)
            lo[axis] = slice(0, n)
            a = c[tuple(hi)] - c[tuple(lo)]
        return a
    return box(values * weights) / np.maximum(box(weights.astype(np.float64)), 1e-6)


def brain_mask(flair):
    head = flair > 0.5 * np.median(flair[flair > 0.2 * np.percentile(flair, 99)])
    core = erode(head, 2)
    labels = components(core)
    if labels.max() == 0:
        return head
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return dilate(labels == np.argmax(sizes), 2) & head


def segment(flair, zooms):
    brain = brain_mask(flair)
    half = [max(1, int(round(BOX_MM / 2 / z))) for z in zooms]
    inner = erode(brain, 1)
    lesions = np.zeros_like(brain)
    for _ in range(2):  # the second pass leaves the first pass's lesions out of the means
        normalized = flair / np.maximum(box_mean(flair, brain & ~lesions, half), 1e-6)
        values = normalized[brain & ~lesions]
        median = np.median(values)
        mad = 1.4826 * np.median(np.abs(values - median))
        lesions = inner & (normalized > median + K * mad)
    labels = components(lesions)
    min_voxels = MIN_LESION_MM3 / float(np.prod(zooms))
    sizes = np.bincount(labels.ravel())
    keep = sizes > min_voxels
    keep[0] = False
    return keep[labels]


def main():
    for case in sorted(os.listdir("/input")):
        img = nib.load(f"/input/{case}/flair.nii.gz")
        flair = np.asarray(img.dataobj, dtype=np.float32)
        mask = segment(flair, img.header.get_zooms()[:3]).astype(np.uint8)
        out = nib.Nifti1Image(mask, img.affine)
        out.set_data_dtype(np.uint8)
        nib.save(out, f"/output/{case}.nii.gz")
        print(f"{case}: {int(mask.sum())} lesion voxels", file=sys.stderr)


if __name__ == "__main__":
    main()
