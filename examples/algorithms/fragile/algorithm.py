"""A segmentation that crashes on some cases: it assumes every scan has lesions.

numpy + nibabel only. Brain = head eroded twice; FLAIR divided by its local mean (a 31 mm
box); seeds = voxels 1.5 times brighter than their surroundings; the mask = voxels brighter
than 80 % of the seeds' median (at least 1.3). On a scan without lesions there is no seed,
``np.percentile`` of an empty array raises, and the container exits with an error:
the platform records those cases as missing (crashed) and scores the others.
The same bug is common in real submissions (MSSEG-2 had test cases without new lesions).
"""

import os

import nibabel as nib
import numpy as np

SEED_LEVEL = 1.5  # "calibrated on the training scans", which all had lesions
GROW_FLOOR = 1.3
BOX_MM = 31.0
SHIFTS = [(a, d) for a in range(3) for d in (1, -1)]


def erode(mask, n=1):
    for _ in range(n):
        eroded = mask.copy()
        for axis, step in SHIFTS:
            moved = np.zeros_like(mask)
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            src[axis] = slice(0, -1) if step > 0 else slice(1, None)
            dst[axis] = slice(1, None) if step > 0 else slice(0, -1)
            moved[tuple(dst)] = mask[tuple(src)]
            eroded &= moved
        mask = eroded
    return mask


def box_sum(a, half):
    for axis, h in enumerate(half):
        c = np.cumsum(a, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis))] * (h + 1) + [c]
                           + [c.take([-1], axis=axis)] * h, axis=axis)
        n = a.shape[axis]
        a = c.take(np.arange(2 * h + 1, 2 * h + 1 + n), axis=axis) - c.take(np.arange(n),
                                                                            axis=axis)
    return a


def segment(flair, zooms):
    head = flair > 0.5 * np.median(flair[flair > 0.2 * np.percentile(flair, 99)])
    brain = erode(head, 3)
    half = [max(1, int(round(BOX_MM / 2 / z))) for z in zooms]
    local = box_sum(flair * brain, half) / np.maximum(box_sum(brain.astype(float), half), 1e-6)
    normalized = flair / np.maximum(local, 1e-6)
    seeds = brain & (normalized > SEED_LEVEL)
    level = np.percentile(normalized[seeds], 50)  # IndexError when there is no seed
    return brain & (normalized > max(GROW_FLOOR, 0.8 * level))

def main():
    for case in sorted(os.listdir("/input")):
        img = nib.load(f"/input/{case}/flair.nii.gz")
        flair = np.asarray(img.dataobj, dtype=np.float32)
        mask = segment(flair, img.header.get_zooms()[:3]).astype(np.uint8)
        out = nib.Nifti1Image(mask, img.affine)
        out.set_data_dtype(np.uint8)
        nib.save(out, f"/output/{case}.nii.gz")


if __name__ == "__main__":
    main()
