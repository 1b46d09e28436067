"""The platform's overhead per case against the algorithm's own time, per_case vs batch.

Run by hand (Docker engine, the base image, root for the capped /output; for ``--platform``
also PostgreSQL and Redis as the tests use them):

    .venv/bin/python benchmarks/evaluation_overhead.py [--cases 20] [--size small]
    .venv/bin/python benchmarks/evaluation_overhead.py --cases 200 --platform --workers 1 2

The algorithm is the baseline threshold (``tests/evaluator/sandbox/images/baseline``), which
prints its own import and segmentation time from inside the container; the cases are
synthetic FLAIR volumes on the grid of ``segarena dataset synth --size`` (``tiny`` is the
32×32×20 grid of the end-to-end tests). Two measurements:

* pipeline: ``evaluator.pipeline.evaluate`` alone in this process (image load from the
  ``docker save`` archive paid once, staging, containers, output checks, scoring); printed
  per case: the algorithm's own time, the platform's (everything else), the time spent
  scoring (on the scoring threads, overlapping the containers) and the ratio platform /
  algorithm;
* platform (``--platform``): the same through PostgreSQL, the broker and ``segarena worker``
  processes (``evaluation_platform.py``), one evaluation per worker, all queued at once;
  printed per case: the evaluation's wall time (claim to end, image load included), the
  algorithm's own time, the platform's, their ratio, and the run's wall per case over all
  evaluations (throughput).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The repository, not benchmarks/ (whose leaderboard.py would shadow the package).
sys.path[0] = str(REPO)

import docker  # noqa: E402

import evaluator.pipeline as pipeline  # noqa: E402
from benchmarks.evaluation_platform import (  # noqa: E402
    hidden_set,
    hidden_set_dir,
    hidden_set_tar,
    own_seconds,
    run_platform,
)
from challenge.core.config import Settings  # noqa: E402
from evaluator.pipeline import CaseInput, evaluate  # noqa: E402
from evaluator.spec import EvaluationSpec  # noqa: E402
from tests.docker_scope import LabelledExecutor, build_image  # noqa: E402
from tests.evaluator.docker_images import BASE_IMAGE, IMAGE_DIRS  # noqa: E402
from tests.evaluator.e2e_data import brain_dataset  # noqa: E402

MODES = ("per_case", "batch")


def build_archive(client: docker.DockerClient, out: Path) -> str:
    """Build the baseline (under a tag and id of this run's own, so removing it later costs
    no other run or platform an image), save it to ``out``; returns the image id."""
    image_id = build_image(client, IMAGE_DIRS["baseline"], "segarena-bench/baseline",
                           {"BASE": BASE_IMAGE})
    with open(out, "wb") as f:
        for chunk in client.images.get(image_id).save(named=True):
            f.write(chunk)
    return image_id


def cases_of(n_cases: int, size: str) -> list[tuple[str, bytes, bytes]]:
    if size == "tiny":
        ds = brain_dataset(n_cases)
        return [(c, ds.cases[c]["flair"], ds.references[c]) for c in sorted(ds.cases)]
    return hidden_set(n_cases, size)


def run_pipeline(mode: str, cases: list[tuple[str, bytes, bytes]], root: Path,
                 archive: Path) -> dict[str, float]:
    data = hidden_set_dir(cases, root / mode)
    inputs = [CaseInput(c, data / "inputs" / c, data / "references" / f"{c}.nii.gz")
              for c, _, _ in cases]
    spec = EvaluationSpec.model_validate({"run_mode": mode, "limits": {"memory_mb": 512}})
    executor = LabelledExecutor(output_capping="tmpfs")
    t0 = time.perf_counter()
    info = executor.load_image(archive, options=spec.sandbox_options())
    load_s = time.perf_counter() - t0

    scoring = [0.0]
    original = pipeline.score_case
    lock = threading.Lock()

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                scoring[0] += time.perf_counter() - t

    pipeline.score_case = timed  # type: ignore[assignment]
    try:
        t1 = time.perf_counter()
        outcome = evaluate(executor, image_id=info.image_id, cases=inputs, spec=spec,
                           max_voxels=Settings().max_case_voxels, work_dir=root / f"work-{mode}")
        wall = time.perf_counter() - t1
    finally:
        pipeline.score_case = original  # type: ignore[assignment]
    assert outcome.n_ok == len(cases), outcome.summary()
    algo = own_seconds(outcome.organizer_log)
    n = float(len(cases))
    return {"load_s": load_s, "wall_case": wall / n, "algo_case": algo / n,
            "scoring_case": scoring[0] / n, "ratio": (wall - algo) / algo}


def print_pipeline(rows: dict[str, dict[str, float]], n_cases: int) -> None:
    print(f"pipeline only: {n_cases} cases, archive load paid once per run; scoring is "
          "summed over the scoring threads (it overlaps the containers)")
    print(f"{'mode':9} {'load s':>7} {'wall/case ms':>13} {'algo/case ms':>13} "
          f"{'platform/case ms':>17} {'scoring/case ms':>16} {'platform/algo':>14}")
    for mode, r in rows.items():
        print(f"{mode:9} {r['load_s']:7.2f} {1000 * r['wall_case']:13.1f} "
              f"{1000 * r['algo_case']:13.1f} {1000 * (r['wall_case'] - r['algo_case']):17.1f} "
              f"{1000 * r['scoring_case']:16.1f} {r['ratio']:14.2f}")
    if len(rows) == 2:
        ratio = rows["per_case"]["wall_case"] / rows["batch"]["wall_case"]
        print(f"per_case / batch wall: {ratio:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--size", choices=("tiny", "small", "full"), default="small")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--platform", action="store_true",
                        help="also run end to end through the database and worker processes")
    parser.add_argument("--pipeline", action=argparse.BooleanOptionalAction, default=True,
                        help="run the pipeline-only measurement (default: yes)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    cases = cases_of(args.cases, args.size)
    with tempfile.TemporaryDirectory(prefix="segarena-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        archive = root / "baseline.tar"
        client = docker.from_env()
        image_id = build_archive(client, archive)
        try:
            if args.pipeline:
                rows = {mode: run_pipeline(mode, cases, root, archive) for mode in args.modes}
                print_pipeline(rows, args.cases)
            if args.platform:
                dataset = hidden_set_tar(cases, root / "hidden.tar")
                print(f"platform: {args.cases} cases ({args.size}) per evaluation, "
                      "one evaluation per worker process, PostgreSQL + Celery + Docker")
                print(f"{'mode':9} {'workers':>7} {'eval wall/case ms':>18} "
                      f"{'algo/case ms':>13} {'platform/case ms':>17} {'platform/algo':>14} "
                      f"{'run wall/case ms':>17}", flush=True)
                for mode in args.modes:
                    for n_workers in args.workers:
                        r = run_platform(mode, n_workers, args.cases, dataset, archive, root)
                        print(f"{mode:9} {n_workers:7d} {1000 * r.eval_wall_case_s:18.1f} "
                              f"{1000 * r.algo_case_s:13.1f} {1000 * r.platform_case_s:17.1f} "
                              f"{r.ratio:14.2f} {1000 * r.throughput_case_s:17.1f}",
                              flush=True)
        finally:
            client.images.remove(image_id, force=True)


if __name__ == "__main__":
    main()
