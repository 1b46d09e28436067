"""Outputs are symlinks: the first case's to a host path, the others' to their own input."""

import os

cases = sorted(os.listdir("/input"))
for i, case in enumerate(cases):
    target = os.environ["SECRET_PATH"] if i == 0 else f"/input/{case}/flair.nii.gz"
    os.symlink(target, f"/output/{case}.nii.gz")
print("linked", flush=True)
