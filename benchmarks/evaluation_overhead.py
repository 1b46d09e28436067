"""The platform's overhead per case against the algorithm's own time, per_case vs batch.

Run by hand (Docker engine, the base image, root for the capped /output):

    .venv/bin/python benchmarks/evaluation_overhead.py [--cases 20]

A 20-case phase and a fast algorithm (the baseline threshold, which prints its own import and
segmentation time from inside the container). The whole pipeline runs: image load from the
``docker save`` archive, staging, containers, output checks and scoring. Printed per case:
the algorithm's own time, the platform's time (everything else) split into checks+scoring and
container handling, and the ratio platform / algorithm. Load is paid once per submission.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import docker  # noqa: E402

import evaluator.pipeline as pipeline  # noqa: E402
from challenge.core.config import Settings  # noqa: E402
from evaluator.pipeline import CaseInput, evaluate  # noqa: E402
from evaluator.sandbox.docker import DockerExecutor  # noqa: E402
from evaluator.spec import EvaluationSpec  # noqa: E402
from tests.docker_scope import build_image  # noqa: E402
from tests.evaluator.docker_images import BASE_IMAGE, IMAGE_DIRS  # noqa: E402
from tests.evaluator.e2e_data import brain_dataset  # noqa: E402


def build_archive(client: docker.DockerClient, out: Path) -> str:
    """Build the baseline (under a tag and id of this run's own, so removing it later costs
    no other run or platform an image), save it to ``out``; returns the image id."""
    image_id = build_image(client, IMAGE_DIRS["baseline"], "segarena-bench/baseline",
                           {"BASE": BASE_IMAGE})
    with open(out, "wb") as f:
        for chunk in client.images.get(image_id).save(named=True):
            f.write(chunk)
    return image_id


def own_seconds(log: str) -> float:
    """Sum of the baseline's own import + segmentation seconds over its containers."""
    total = 0.0
    for line in log.splitlines():
        if line.startswith('{"cases"'):
            report = json.loads(line)
            total += report["import_s"] + report["algorithm_s"]
    return total


def run(mode: str, n_cases: int, root: Path, archive: Path) -> dict[str, float]:
    data = brain_dataset(n_cases).write_dir(root / mode)
    for p in data.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    cases = [CaseInput(c.name, c, data / "references" / f"{c.name}.nii.gz")
             for c in sorted((data / "inputs").iterdir())]
    spec = EvaluationSpec.model_validate({"run_mode": mode, "limits": {"memory_mb": 512}})
    executor = DockerExecutor(output_capping="tmpfs")
    t0 = time.perf_counter()
    info = executor.load_image(archive, options=spec.sandbox_options())
    load_s = time.perf_counter() - t0

    scoring = [0.0]
    original = pipeline.score_case

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            scoring[0] += time.perf_counter() - t

    pipeline.score_case = timed  # type: ignore[assignment]
    try:
        t1 = time.perf_counter()
        outcome = evaluate(executor, image_id=info.image_id, cases=cases, spec=spec,
                           max_voxels=Settings().max_case_voxels, work_dir=root / f"work-{mode}")
        wall = time.perf_counter() - t1
    finally:
        pipeline.score_case = original  # type: ignore[assignment]
    assert outcome.n_ok == n_cases, outcome.summary()
    algo = own_seconds(outcome.organizer_log)
    n = float(n_cases)
    return {"load_s": load_s, "wall_case": wall / n, "algo_case": algo / n,
            "scoring_case": scoring[0] / n,
            "container_case": (wall - algo - scoring[0]) / n,
            "ratio": (wall - algo) / algo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segarena-bench-") as tmp:
        root = Path(tmp)
        archive = root / "baseline.tar"
        client = docker.from_env()
        image_id = build_archive(client, archive)
        try:
            rows = {mode: run(mode, args.cases, root, archive) for mode in ("per_case", "batch")}
        finally:
            client.images.remove(image_id, force=True)
    print(f"{args.cases} cases, baseline threshold algorithm, archive load paid once per run")
    print(f"{'mode':9} {'load s':>7} {'wall/case':>10} {'algo/case':>10} {'checks+score':>13}"
          f" {'containers':>11} {'platform/algo':>14}")
    for mode, r in rows.items():
        print(f"{mode:9} {r['load_s']:7.2f} {r['wall_case']:10.3f} {r['algo_case']:10.3f} "
              f"{r['scoring_case']:13.4f} {r['container_case']:11.3f} {r['ratio']:14.1f}")
    ratio = rows["per_case"]["wall_case"] / rows["batch"]["wall_case"]
    print(f"per_case / batch wall: {ratio:.1f}")


if __name__ == "__main__":
    main()
