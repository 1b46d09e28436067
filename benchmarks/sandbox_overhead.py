"""Sandbox overhead: per_case vs batch on 20 small cases with the baseline algorithm.

Run by hand (needs the Docker engine and the base image; root for the /output tmpfs):

    .venv/bin/python benchmarks/sandbox_overhead.py [--cases 20] [--repeats 2]

The baseline prints its own elapsed time (imports and segmentation, seconds, measured
inside the container). For each mode this prints the platform's wall time for the
whole run, the algorithm's own time, and their ratio; for ``per_case`` also the
overhead per container (wall minus the algorithm's own time, divided by cases).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker
import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator.base_image import local_base_image
from evaluator.sandbox.base import Limits, RunMode, RunSpec  # noqa: E402
from evaluator.sandbox.docker import DockerExecutor  # noqa: E402
from tests.docker_scope import build_image  # noqa: E402

BASELINE = Path(__file__).resolve().parents[1] / "tests/evaluator/sandbox/images/baseline"
BASE_IMAGE = local_base_image()
SHAPE = (64, 64, 40)


def make_cases(root: Path, n: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    grid = np.ogrid[tuple(slice(0, s) for s in SHAPE)]
    brain = sum((g - s / 2) ** 2 / (s / 2.5) ** 2 for g, s in zip(grid, SHAPE, strict=True)) <= 1
    inputs = {}
    for i in range(n):
        flair = np.where(brain, 100.0, 0.0) + rng.normal(0, 3, SHAPE) * brain
        for _ in range(5):
            c = [rng.integers(s // 3, 2 * s // 3) for s in SHAPE]
            lesion = sum((g - ci) ** 2 for g, ci in zip(grid, c, strict=True)) <= 4
            flair[lesion] = 180.0
        case = root / f"case-{i:03d}"
        case.mkdir(parents=True)
        nib.save(nib.Nifti1Image(flair.astype(np.float32), np.eye(4)), case / "flair.nii.gz")
        (case / "flair.nii.gz").chmod(0o644)
        case.chmod(0o755)
        inputs[case.name] = case
    return inputs


def own_time(stdout: str) -> tuple[float, float]:
    """(algorithm seconds, import seconds) from the baseline's last stdout line."""
    report = json.loads(stdout.strip().splitlines()[-1])
    return report["algorithm_s"], report["import_s"]


def measure(executor: DockerExecutor, image_id: str, inputs, mode: RunMode, work: Path) -> dict:
    limits = Limits(
        wall_time_per_case_s=120,
        wall_time_per_submission_s=1800,
        memory_bytes=1024 * 1024 * 1024,
        cpus=1.0,
        pids=256,
        output_bytes=16 * 1024 * 1024,
        tmp_bytes=1024 * 1024 * 1024,
        gpu=False,
    )
    t0 = time.perf_counter()
    result = executor.run(
        RunSpec(image_id=image_id, inputs=inputs, work_dir=work, mode=mode, limits=limits)
    )
    wall = time.perf_counter() - t0
    failed = [c for c, r in result.cases.items() if r.failure is not None]
    if failed:
        raise SystemExit(f"{mode}: cases failed: {failed}")
    algo = imports = engine = 0.0
    for container in result.containers:
        a, i = own_time(container.stdout_tail)
        algo, imports, engine = algo + a, imports + i, engine + container.duration_s
    return {
        "wall": wall,
        "engine": engine,
        "algo": algo,
        "imports": imports,
        "containers": len(result.containers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    client = docker.from_env()
    # A tag and id of this run's own: removing it cannot hit a test run's or a platform's.
    image_id = build_image(client, BASELINE, "segarena-bench/baseline", {"BASE": BASE_IMAGE})
    executor = DockerExecutor(client)
    rows: dict[RunMode, list[dict]] = {RunMode.PER_CASE: [], RunMode.BATCH: []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inputs = make_cases(Path(tmp) / "cases", args.cases)
            for r in range(args.repeats):
                for mode in rows:
                    rows[mode].append(
                        measure(executor, image_id, inputs, mode, Path(tmp) / f"work-{mode}-{r}")
                    )
    finally:
        client.images.remove(image_id, force=True)
    print(f"{args.cases} cases of {SHAPE}, baseline algorithm, {args.repeats} repeats (median)")
    print(
        f"{'mode':9} {'wall s':>8} {'engine s':>9} {'algo s':>8} {'algo+imp s':>11} "
        f"{'wall/algo':>10} {'wall/(algo+imp)':>16} {'overhead/case s':>16}"
    )
    medians = {}
    for mode, runs in rows.items():
        m = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
        medians[mode] = m
        own = m["algo"] + m["imports"]
        print(
            f"{mode.value:9} {m['wall']:8.2f} {m['engine']:9.2f} {m['algo']:8.3f} {own:11.2f} "
            f"{m['wall'] / m['algo']:10.1f} {m['wall'] / own:16.2f} "
            f"{(m['wall'] - own) / args.cases:16.3f}"
        )
    ratio = medians[RunMode.PER_CASE]["wall"] / medians[RunMode.BATCH]["wall"]
    print(f"per_case wall / batch wall = {ratio:.2f}")


if __name__ == "__main__":
    main()
