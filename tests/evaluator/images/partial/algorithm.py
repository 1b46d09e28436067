"""Fails on some cases: crashes with exit code 3 when a case id ends in an odd digit and
prints a path that looks like a hidden reference (which must never reach participants)."""
import os
import sys

import nibabel as nib
import numpy as np

for case in sorted(os.listdir("/input")):
    if case[-1] in "13579":
        print(f"cannot open /data/references/{case}.nii.gz: lesion 0.731", file=sys.stderr)
        sys.exit(3)
    img = nib.load(f"/input/{case}/flair.nii.gz")
    flair = np.asarray(img.dataobj, dtype=np.float32)
    mask = (flair > flair.mean() + 2 * flair.std()).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, img.affine), f"/output/{case}.nii.gz")
