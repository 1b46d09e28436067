"""Baseline MS lesion segmentation: FLAIR hyperintensities inside a brain mask.

For every case in /input: brain = FLAIR > 10 % of its maximum; lesions = brain
voxels brighter than mean + K * std of the brain voxels. Writes a uint8 mask on
the FLAIR grid to /output/<case_id>.nii.gz and prints its own elapsed time (s).
"""

import json
import os
import time

T0 = time.perf_counter()

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

K = 2.5


def segment(case_dir: str, out_path: str) -> int:
    img = nib.load(os.path.join(case_dir, "flair.nii.gz"))
    flair = np.asarray(img.dataobj, dtype=np.float32)
    mask = np.zeros(flair.shape, dtype=np.uint8)
    if flair.max() > 0:
        brain = flair > 0.1 * flair.max()
        values = flair[brain]
        mask[brain & (flair > values.mean() + K * values.std())] = 1
    out = nib.Nifti1Image(mask, img.affine)
    out.set_data_dtype(np.uint8)
    nib.save(out, out_path)
    return int(mask.sum())


def main() -> None:
    t1 = time.perf_counter()
    cases = sorted(os.listdir("/input"))
    voxels = {c: segment(os.path.join("/input", c), f"/output/{c}.nii.gz") for c in cases}
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "cases": len(cases),
                "lesion_voxels": voxels,
                "import_s": t1 - T0,
                "algorithm_s": t2 - t1,
            }
        ),
        flush=True,
    )


main()
