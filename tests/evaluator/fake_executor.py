"""A fast stand-in for the Docker executor, for state-machine unit tests only.

It thresholds each case's FLAIR (like the baseline algorithm) and writes the mask where the
real executor would put a collected output. It never touches the reference. The real Docker
path is tested in test_end_to_end.py and tests/evaluator/sandbox/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import nibabel as nib
import numpy as np

from evaluator.sandbox import (
    CaseRun,
    ContainerRun,
    Executor,
    Failure,
    FailureCategory,
    RunResult,
    RunSpec,
    SandboxOptions,
)
from evaluator.sandbox.archive import ImageArchiveInfo, inspect_archive


class FakeExecutor(Executor):
    def __init__(self, *, load_error: Exception | None = None,
                 run_error: Exception | None = None, fail_cases: frozenset[str] = frozenset(),
                 on_run: Callable[[RunSpec, threading.Event | None], None] | None = None,
                 stdout: str | None = None, stderr: str = "") -> None:
        """``stdout``/``stderr``: what every container prints; when ``stdout`` is given, the
        run reports its containers (so the worker's organizer log holds them), else none."""
        self.load_error = load_error
        self.run_error = run_error
        self.fail_cases = fail_cases
        self.on_run = on_run
        self.runs: list[RunSpec] = []
        self.stdout = stdout
        self.stderr = stderr

    def load_image(self, archive_path: Path, *,
                   options: SandboxOptions | None = None) -> ImageArchiveInfo:
        if self.load_error is not None:
            raise self.load_error
        return inspect_archive(archive_path)

    def run(self, spec: RunSpec, *, on_case_done=None,
            cancel_event: threading.Event | None = None) -> RunResult:
        self.runs.append(spec)
        if self.on_run is not None:
            self.on_run(spec, cancel_event)
        if self.run_error is not None:
            raise self.run_error
        cases: dict[str, CaseRun] = {}
        containers: list[ContainerRun] = []
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        for case_id, input_dir in spec.inputs.items():
            container = ContainerRun((case_id,), 0, False, False, False, 0.01,
                                     "ok\n" if self.stdout is None else self.stdout,
                                     self.stderr, False, None)
            containers.append(container)
            if cancel_event is not None and cancel_event.is_set():
                run = CaseRun(case_id, None, Failure(FailureCategory.CANCELLED), None)
            elif case_id in self.fail_cases:
                crashed = Failure(FailureCategory.CRASHED, exit_code=3)
                run = CaseRun(case_id, None, crashed, container)
            else:
                img = nib.load(input_dir / "flair.nii.gz")
                flair = np.asarray(img.dataobj)
                mask = (flair > flair.mean() + 2 * flair.std()).astype(np.uint8)
                out = spec.work_dir / f"{case_id}.nii.gz"
                nib.save(nib.Nifti1Image(mask, img.affine), out)
                run = CaseRun(case_id, out, None, container)
            cases[case_id] = run
            if on_case_done is not None:
                on_case_done(run)
        cancelled = cancel_event is not None and cancel_event.is_set()
        reported = containers if self.stdout is not None else []
        return RunResult(spec.image_id, spec.mode, cases, reported, cancelled=cancelled)

    def remove_orphans(self, keep: Callable[[Mapping[str, str]], bool]) -> int:
        """Nothing outlives a fake run: there is never an orphan to remove."""
        return 0
