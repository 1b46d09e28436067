"""``evaluator.pipeline.evaluate`` scores on threads of its own while the executor goes on:
every case scored once, ``on_case`` never called twice at once and done on return, and an
error while scoring stops the run at its next case and is raised again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import evaluator.pipeline as pipeline
from evaluator.pipeline import CaseInput, CaseOutcome, evaluate
from evaluator.sandbox import (
    CaseRun,
    ContainerRun,
    Executor,
    Failure,
    FailureCategory,
    RunResult,
    RunSpec,
)
from evaluator.spec import EvaluationSpec

IMAGE = "sha256:" + "0" * 64
N_CASES = 8


class StubExecutor(Executor):
    """Reports each case as crashed (no output to read), calling ``between(i)`` after
    reporting case ``i``; records which cases it reported and what the callback raised."""

    def __init__(self, between: Callable[[int], None] = lambda i: None) -> None:
        self.between = between
        self.reported: list[str] = []
        self.all_reported = threading.Event()

    def load_image(self, archive_path, *, options=None):  # pragma: no cover - unused
        raise NotImplementedError

    def run(self, spec: RunSpec, *, on_case_done=None, cancel_event=None) -> RunResult:
        cases = {}
        for i, case_id in enumerate(spec.inputs):
            container = ContainerRun((case_id,), 3, False, False, False, 0.0, "", "", False,
                                     Failure(FailureCategory.CRASHED, exit_code=3))
            cases[case_id] = CaseRun(case_id, None, container.failure, container)
            self.reported.append(case_id)
            if on_case_done is not None:
                on_case_done(cases[case_id])
            self.between(i)
        self.all_reported.set()
        return RunResult(spec.image_id, spec.mode, cases, [])

    def remove_orphans(self, keep: Callable[[Mapping[str, str]], bool]) -> int:
        return 0


def _cases(tmp_path: Path) -> list[CaseInput]:
    return [CaseInput(f"case{i}", tmp_path, tmp_path / "ref.nii.gz") for i in range(N_CASES)]


def _evaluate(executor: Executor, tmp_path: Path,
              on_case: Callable[[CaseOutcome], None] | None = None):
    return evaluate(executor, image_id=IMAGE, cases=_cases(tmp_path),
                    spec=EvaluationSpec.model_validate({"run_mode": "per_case"}),
                    max_voxels=10**6, work_dir=tmp_path / "work", on_case=on_case)


def test_scoring_does_not_hold_up_the_executor(tmp_path, monkeypatch):
    executor = StubExecutor()
    original = pipeline.score_case

    def waits_for_the_executor(*args, **kwargs):
        # Scored in the executor's thread, this would wait for itself: the run would hang.
        assert executor.all_reported.wait(10), "scoring held up the executor"
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "score_case", waits_for_the_executor)
    outcome = _evaluate(executor, tmp_path)
    assert [c.case_id for c in outcome.cases] == [f"case{i}" for i in range(N_CASES)]
    assert {c.category for c in outcome.cases} == {"crashed"}


def test_on_case_is_called_once_per_case_one_at_a_time_and_done_on_return(tmp_path):
    seen: list[str] = []
    inside = [0, 0]  # now, most at once
    lock = threading.Lock()

    def on_case(outcome: CaseOutcome) -> None:
        with lock:
            inside[0] += 1
            inside[1] = max(inside)
        time.sleep(0.02)
        seen.append(outcome.case_id)
        with lock:
            inside[0] -= 1

    outcome = _evaluate(StubExecutor(), tmp_path, on_case)
    assert sorted(seen) == [f"case{i}" for i in range(N_CASES)]
    assert inside[1] == 1
    assert [c.status for c in outcome.cases] == ["missing"] * N_CASES


def test_a_scoring_error_stops_the_run_at_its_next_case_and_is_raised(tmp_path,
                                                                      monkeypatch):
    raised = threading.Event()

    def broken(case, run, *args, **kwargs):
        if case.case_id == "case1":
            raised.set()
            raise MemoryError("scoring case1")
        return pipeline.missing(case.case_id, run.failure)

    executor = StubExecutor(between=lambda i: i == 1 and raised.wait(10))
    monkeypatch.setattr(pipeline, "score_case", broken)
    with pytest.raises(MemoryError, match="scoring case1"):
        _evaluate(executor, tmp_path)
    assert executor.reported == ["case0", "case1", "case2"]  # stopped when reporting case2
