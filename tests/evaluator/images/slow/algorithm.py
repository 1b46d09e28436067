"""A correct but slow algorithm: thresholds FLAIR after sleeping SLOW_S seconds per case,
so a test can kill its worker while it runs."""
import os
import time

import nibabel as nib
import numpy as np

SLOW_S = 4.0

for case in sorted(os.listdir("/input")):
    time.sleep(SLOW_S)
    img = nib.load(f"/input/{case}/flair.nii.gz")
    flair = np.asarray(img.dataobj, dtype=np.float32)
    brain = flair > 0.1 * flair.max()
    values = flair[brain]
    mask = (brain & (flair > values.mean() + 2.5 * values.std())).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, img.affine), f"/output/{case}.nii.gz")
