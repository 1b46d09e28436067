"""Cross-check of the ``instance`` preset against panoptica, its anchor.

Why a separate virtual environment: panoptica pins old numpy and pandas (numpy < 2.3,
pandas < 3), which cannot live in the project's venv (numpy 2.4, pandas 3). The test
setup builds a venv with panoptica once per machine under ``$SEGARENA_CACHE`` (default
``<repo>/.cache``, which gets its own ``.gitignore``), runs panoptica there in a
subprocess on the same arrays, and compares counts exactly and ratios to 1e-12. A failed
build fails the test (never skipped): CI reaches PyPI like a developer's machine.

panoptica's default pipeline is what ``instance`` states: 26-connected components (cc3d),
``NaiveThresholdMatching`` on IoU >= 0.5, greedy by decreasing IoU, one-to-one. Its
``rq`` is tp / (tp + (fp + fn)/2), our harmonic F1 under one_to_one counting. panoptica
divides by zero on empty masks, so empty cases are covered by our own rule tests only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from evaluator.metrics import evaluate_case
from tests.evaluator.metrics.lesion_phantoms import random_case, with_boxes

PANOPTICA = "panoptica==2.1.7"
REPO = Path(__file__).resolve().parents[3]

RUNNER = """
import json, sys
import numpy as np
from panoptica import (ConnectedComponentsInstanceApproximator, InputType, Metric,
                       NaiveThresholdMatching, Panoptica_Evaluator)
data = np.load(sys.argv[1])
ev = Panoptica_Evaluator(
    expected_input=InputType.SEMANTIC,
    instance_approximator=ConnectedComponentsInstanceApproximator(),
    instance_matcher=NaiveThresholdMatching(matching_metric=Metric.IOU, matching_threshold=0.5),
    instance_metrics=[Metric.IOU], global_metrics=[Metric.DSC],
)
out = []
for k in range(int(data["n"])):
    r = ev.evaluate(data[f"pred{k}"], data[f"ref{k}"], verbose=False)["ungrouped"]
    out.append({key: float(getattr(r, key)) for key in
                ("tp", "fp", "fn", "prec", "rec", "rq", "n_ref_instances", "n_pred_instances")})
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
"""


def _cache_dir() -> Path:
    root = Path(os.environ.get("SEGARENA_CACHE", REPO / ".cache"))
    root.mkdir(parents=True, exist_ok=True)
    ignore = root / ".gitignore"
    if root == REPO / ".cache" and not ignore.exists():
        ignore.write_text("# machine-local caches built by the tests\n*\n")
    return root


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_venv(target: Path) -> None:
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
    subprocess.run(
        [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", PANOPTICA],
        check=True,
        timeout=540,
    )
    (tmp / "segarena-ready").write_text(PANOPTICA)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(tmp, target)  # venvs run from a new path through bin/python + pyvenv.cfg


@pytest.fixture(scope="session")
def panoptica_python() -> Path:
    cache = _cache_dir()
    target = cache / "panoptica-venv"
    with _locked(cache / "panoptica-venv.lock"):
        ready = target / "segarena-ready"
        if not ready.exists() or ready.read_text() != PANOPTICA:
            _build_venv(target)
    return target / "bin" / "python"


def _run_panoptica(python: Path, cases: list[tuple[np.ndarray, np.ndarray]], tmp: Path):
    arrays = {"n": np.array(len(cases))}
    for k, (pred, ref) in enumerate(cases):
        arrays[f"pred{k}"] = pred.astype(np.uint8)
        arrays[f"ref{k}"] = ref.astype(np.uint8)
    np.savez(tmp / "cases.npz", **arrays)  # type: ignore[arg-type]
    (tmp / "runner.py").write_text(RUNNER)
    subprocess.run(
        [str(python), str(tmp / "runner.py"), str(tmp / "cases.npz"), str(tmp / "out.json")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return json.loads((tmp / "out.json").read_text())


def _hand_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    shape = (4, 4, 40)
    line = lambda a, b: np.s_[1, 1, a:b]  # noqa: E731
    return [
        # merge: R1 x0..9, R2 x12..15, P x0..15 -> IoU 10/16 matched, R2 missed
        (with_boxes(shape, line(0, 16)), with_boxes(shape, line(0, 10), line(12, 16))),
        # IoU exactly 0.5 (4/8) is matched
        (with_boxes(shape, line(0, 4)), with_boxes(shape, line(0, 8))),
        # diagonal neighbours: one 26-connected lesion on each side
        (
            with_boxes(shape, np.s_[1, 1, 5:6], np.s_[2, 2, 6:7]),
            with_boxes(shape, np.s_[1, 1, 5:6], np.s_[2, 2, 6:7]),
        ),
    ]


@pytest.mark.slow  # the first run on a machine builds the side venv (about a minute)
def test_instance_preset_equals_panoptica(panoptica_python: Path, tmp_path: Path) -> None:
    cases = _hand_cases() + [random_case(seed) for seed in range(12)]
    theirs = _run_panoptica(panoptica_python, cases, tmp_path)
    for k, ((pred, ref), want) in enumerate(zip(cases, theirs, strict=True)):
        les = evaluate_case(pred, ref, (1.0, 1.0, 1.0), "instance").lesions
        got = (les.n_ref, les.n_pred, les.tp, les.fp, les.fn)
        expected = tuple(
            int(want[key]) for key in ("n_ref_instances", "n_pred_instances", "tp", "fp", "fn")
        )
        assert got == expected, f"case {k}"
        assert les.precision == pytest.approx(want["prec"], abs=1e-12)
        assert les.recall == pytest.approx(want["rec"], abs=1e-12)
        assert les.f1 == pytest.approx(want["rq"], abs=1e-12)
