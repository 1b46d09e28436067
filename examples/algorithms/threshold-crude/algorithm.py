"""A weaker baseline: the brightest 1 % of the head on FLAIR, no brain mask, no cleanup.

numpy + nibabel only. It finds the big lesions but also bright scalp, cortex and noise, and
it always marks 1 % of the head, so it over-segments low-load and lesion-free scans.
Writes a uint8 mask on the FLAIR grid to /output/<case_id>.nii.gz.
"""

import os

import nibabel as nib
import numpy as np

TOP_PERCENT = 1.0


def segment(flair, zooms=None):
    head = flair > 0.1 * flair.max()
    return head & (flair > np.percentile(flair[head], 100 - TOP_PERCENT))


def main():
    for case in sorted(os.listdir("/input")):
        img = nib.load(f"/input/{case}/flair.nii.gz")
        flair = np.asarray(img.dataobj, dtype=np.float32)
        mask = segment(flair).astype(np.uint8)
        out = nib.Nifti1Image(mask, img.affine)
        out.set_data_dtype(np.uint8)
        nib.save(out, f"/output/{case}.nii.gz")


if __name__ == "__main__":
    main()
