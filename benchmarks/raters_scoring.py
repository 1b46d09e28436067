"""What several raters cost when a case is scored, against one reference, in one process.

Run by hand (no Docker, no database):

    .venv/bin/python benchmarks/raters_scoring.py [--size full] [--raters 3] [--repeat 3]

One synthetic case (``evaluator.synth``) and its rater variants on disk; a prediction made
from the reference with a boundary shift. Printed, each as the best of ``--repeat`` runs and
as a ratio to scoring against one reference (``score_case`` with no raters): scoring with
raters under each reference rule (read the masks, build the consensus, score against it and
against every rater), the same with the ranked reference already stored (as the worker does
after a case's first evaluation), and the human baseline of the case (every rater against the
others' consensus), which the worker computes once per dataset and scoring config.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from evaluator import raters as multi  # noqa: E402
from evaluator import synth  # noqa: E402
from evaluator.metrics import get_preset  # noqa: E402
from evaluator.pipeline import CaseInput, score_case  # noqa: E402
from evaluator.sandbox import CaseRun  # noqa: E402
from evaluator.spec import ReferenceSpec  # noqa: E402

MAX_VOXELS = 10**9


def best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="full", choices=sorted(synth.SIZES))
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    case = synth.make_case(2027, 2, args.size)  # a high-load case
    config = get_preset("msseg")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synth.write_case(case, root, raters=args.raters, seed=2027)
        prediction = ndimage.binary_dilation(case.reference > 0).astype(np.uint8)
        output = root / "prediction.nii.gz"
        output.write_bytes(synth._nii_gz(prediction, case.affine))
        reference = root / "references" / f"{case.case_id}.nii.gz"
        rater_paths = {p.name.removesuffix(".nii.gz"): p
                       for p in sorted((root / "references" / case.case_id).glob("*.nii.gz"))}
        run = CaseRun(case.case_id, output, None, None)
        single = CaseInput(case.case_id, root, reference)
        several = CaseInput(case.case_id, root, reference, rater_paths)
        base = best(args.repeat, lambda: score_case(single, run, config, MAX_VOXELS))
        print(f"{args.size} case {case.reference.shape}, {args.raters} raters, "
              f"best of {args.repeat}")
        print(f"  one reference                 {base * 1000:8.1f} ms   1.00x")
        for mode in ("consensus", "majority", "staple"):
            spec = ReferenceSpec(mode=mode)
            t = best(args.repeat, lambda spec=spec: score_case(several, run, config,
                                                                  MAX_VOXELS, spec))
            print(f"  raters, reference {mode:<10}  {t * 1000:8.1f} ms   {t / base:.2f}x")
        for mode in ("majority", "staple"):
            spec = ReferenceSpec(mode=mode)
            stored = root / f"ranked-{mode}.nii.gz"
            multi.write_ranked(reference, rater_paths, spec, MAX_VOXELS, stored)
            with_stored = CaseInput(case.case_id, root, reference, rater_paths, stored)
            t = best(args.repeat, lambda spec=spec, c=with_stored: score_case(
                c, run, config, MAX_VOXELS, spec))
            print(f"  raters, {mode:<8} stored      {t * 1000:8.1f} ms   {t / base:.2f}x")
        for mode in ("majority", "staple"):
            spec = ReferenceSpec(mode=mode)
            refs = multi.load(reference, rater_paths, spec, MAX_VOXELS)
            t = best(args.repeat, lambda spec=spec, refs=refs: multi.baseline(refs, spec, config))
            print(f"  baseline (once), {mode:<10}  {t * 1000:8.1f} ms   {t / base:.2f}x")


if __name__ == "__main__":
    main()
