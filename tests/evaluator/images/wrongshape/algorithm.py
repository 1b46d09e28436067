"""Hostile: writes a mask on a grid other than the input's (one voxel short on each axis)."""
import os

import nibabel as nib
import numpy as np

for case in sorted(os.listdir("/input")):
    img = nib.load(f"/input/{case}/flair.nii.gz")
    shape = tuple(max(1, n - 1) for n in img.shape)
    nib.save(nib.Nifti1Image(np.ones(shape, np.uint8), img.affine), f"/output/{case}.nii.gz")
