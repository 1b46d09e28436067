"""Claims evaluations, runs the pipeline, records results through ``challenge.evaluations``.

One job function (``EvaluationWorker.run``) serves both dispatchers: the in-process threads of
``segarena serve`` and the Celery task of ``segarena worker``. Running it twice for the same
evaluation is harmless: only a queued evaluation can be claimed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from challenge.core.config import Settings
from challenge.core.storage import Storage
from challenge.evaluations import baseline, lifecycle
from challenge.evaluations.charge import RefundReason
from challenge.evaluations.lifecycle import CaseRecord, Job
from challenge.evaluations.models import EvalState
from challenge.evaluations.recorder import CaseRecorder
from evaluator.pipeline import (
    EVALUATOR_VERSION,
    CaseInput,
    CaseOutcome,
    EvaluationOutcome,
    evaluate,
)
from evaluator.sandbox import AlgorithmError, Executor, PlatformError

log = logging.getLogger("segarena.worker")
EVALUATION_LABEL = "org.segarena.evaluation"
ATTEMPT_LABEL = "org.segarena.attempt"
INSTANCE_LABEL = "org.segarena.instance"


def instance_id(database_url: str) -> str:
    """Which platform a container belongs to: the database is the source of truth, so every
    worker of one platform (on any host) shares it, and two platforms sharing one Docker
    engine (a demo beside a test run) never touch each other's containers."""
    return hashlib.sha256(database_url.encode()).hexdigest()[:16]


class JobLost(Exception):
    """This worker no longer owns the job (reaped or cancelled): stop without writing."""


class EvaluationWorker:
    def __init__(self, factory: sessionmaker[Session], storage: Storage, settings: Settings,
                 executor_factory: Callable[[], Executor] | None = None) -> None:
        self.factory = factory
        self.storage = storage
        self.settings = settings
        self._executor_factory = executor_factory or (
            lambda: _docker_executor(settings))
        self._executor: Executor | None = None
        self.instance = instance_id(settings.database_url)

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = self._executor_factory()
        return self._executor

    # -- entry points ------------------------------------------------------------------------

    def run(self, evaluation_id: int) -> EvalState | None:
        """Claim and run one evaluation; None when it was not claimable (already taken/done)."""
        with self.factory() as db:
            job = lifecycle.claim(db, evaluation_id, lifecycle.new_worker_id())
        if job is None:
            return None
        return self._process(job)

    def run_next(self) -> bool:
        """Run the oldest claimable queued evaluation; False when the queue is empty."""
        with self.factory() as db:
            candidates = lifecycle.next_queued(db)
        for evaluation_id in candidates:
            with self.factory() as db:
                job = lifecycle.claim(db, evaluation_id, lifecycle.new_worker_id())
            if job is not None:
                self._process(job)
                return True
        return False

    def reap(self) -> list[int]:
        """Re-queue jobs of dead workers, then remove this host's containers that no live job
        owns any more (a killed worker's container would otherwise run on unsupervised)."""
        with self.factory() as db:
            requeued = lifecycle.reap(db, self.settings.reaper_grace_seconds,
                                      self.settings.max_platform_retries)
        with self.factory() as db:
            live = lifecycle.live_attempts(db)
        removed = self.executor.remove_orphans(lambda labels: _owned(labels, live, self.instance))
        if removed:
            log.warning("removed %d orphaned sandbox container(s)", removed)
        return requeued

    # -- one job -------------------------------------------------------------------------------

    def _process(self, job: Job) -> EvalState | None:
        cancel = threading.Event()
        lost = threading.Event()
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, cancel, lost, stop),
                                daemon=True, name=f"heartbeat-{job.evaluation_id}")
        beat.start()
        work_dir = self.storage.run_dir(job.evaluation_id) / f"attempt-{job.attempt}"
        try:
            return self._execute(job, work_dir, cancel, lost)
        except JobLost:
            log.info("evaluation %s: lost ownership, stopping", job.evaluation_id)
            return None
        except AlgorithmError as exc:
            return self._end(job, EvalState.failed, category=exc.code, message=exc.message)
        except Exception as exc:  # platform fault: engine, disk, database...
            detail = "".join(traceback.format_exception(exc))
            log.warning("evaluation %s: platform fault: %s", job.evaluation_id, exc)
            with self.factory() as db:
                return lifecycle.platform_fault(db, job, detail,
                                                self.settings.max_platform_retries)
        finally:
            stop.set()
            beat.join(timeout=5)
            shutil.rmtree(work_dir, ignore_errors=True)

    def _execute(self, job: Job, work_dir: Path, cancel: threading.Event,
                 lost: threading.Event) -> EvalState | None:
        if job.dataset_key is None or not job.case_ids:
            raise PlatformError("the phase has no dataset attached")
        archive = self.storage.submission_path(job.archive_key)
        info = self.executor.load_image(archive, options=job.spec.sandbox_options())
        if info.image_id != job.image_digest:
            raise PlatformError("stored archive does not match the recorded image digest")
        self._advance(job, EvalState.provisioning, EvalState.running)
        cases = self._stage(job, work_dir)

        def stop() -> None:
            lost.set()
            cancel.set()

        recorder = CaseRecorder(self.factory, job, on_lost=stop)

        def record(outcome: CaseOutcome) -> None:
            recorder.put(CaseRecord(outcome.case_id, outcome.status, outcome.category,
                                    outcome.metrics, list(outcome.flags),
                                    outcome.rater_metrics))

        labels = {EVALUATION_LABEL: str(job.evaluation_id), ATTEMPT_LABEL: str(job.attempt),
                  INSTANCE_LABEL: self.instance}
        try:
            outcome = evaluate(self.executor, image_id=info.image_id, cases=cases,
                               spec=job.spec, max_voxels=self.settings.max_case_voxels,
                               work_dir=work_dir / "sandbox", on_case=record,
                               cancel_event=cancel, labels=labels)
        except BaseException:
            with contextlib.suppress(Exception):  # the run's own error is the one to report
                recorder.close()
            raise
        recorder.close()  # every case stored (or the job lost) before the job moves on
        if lost.is_set():
            raise JobLost()
        if outcome.cancelled:
            return self._end(job, EvalState.cancelled, category="cancelled",
                             message="cancelled", log_text=outcome.organizer_log,
                             refund_for=RefundReason.cancel)
        self._advance(job, EvalState.running, EvalState.scoring)
        baseline.ensure(self.factory, self.storage, job, self.settings.max_case_voxels)
        return self._conclude(job, outcome)

    def _conclude(self, job: Job, outcome: EvaluationOutcome) -> EvalState | None:
        state, category, message = verdict(outcome)
        return self._end(job, state, category=category, message=message,
                         log_text=outcome.organizer_log, summary=outcome.summary())

    def _stage(self, job: Job, work_dir: Path) -> list[CaseInput]:
        """Inputs are mounted straight from storage (read-only) when the case folder holds
        exactly the phase's channels; otherwise only those channels are hard-linked into a
        run folder, so a container never sees a file the phase did not give it."""
        assert job.dataset_key is not None
        cases = []
        for case_id in job.case_ids:
            source = self.storage.dataset_inputs(job.dataset_key, case_id)
            wanted = {f"{c}.nii.gz" for c in job.spec.channels}
            input_dir = source
            if {p.name for p in source.iterdir()} != wanted:
                input_dir = work_dir / "inputs" / case_id
                input_dir.mkdir(parents=True, exist_ok=True)
                for name in sorted(wanted):
                    os.link(source / name, input_dir / name)
            cases.append(CaseInput(case_id, input_dir,
                                   self.storage.dataset_reference(job.dataset_key, case_id),
                                   baseline.rater_paths(self.storage, job, case_id),
                                   baseline.ranked_reference(self.storage, job, case_id,
                                                             self.settings.max_case_voxels)))
        return cases

    def _advance(self, job: Job, expected: EvalState, new: EvalState) -> None:
        with self.factory() as db:
            if not lifecycle.advance(db, job, expected, new):
                raise JobLost()

    def _end(self, job: Job, state: EvalState, *, category: str | None = None,
             message: str | None = None, log_text: str | None = None,
             summary: dict | None = None,
             refund_for: RefundReason | None = None) -> EvalState | None:
        with self.factory() as db:
            ok = lifecycle.finish(db, job, state, category=category, message=message,
                                  organizer_log=log_text, summary=summary,
                                  evaluator_version=EVALUATOR_VERSION,
                                  refund_for=refund_for)
        return state if ok else None

    def _heartbeat(self, job: Job, cancel: threading.Event, lost: threading.Event,
                   stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_seconds):
            try:
                with self.factory() as db:
                    answer = lifecycle.heartbeat(db, job)
            except Exception:  # database briefly away: the reaper's grace covers it
                log.warning("evaluation %s: heartbeat failed", job.evaluation_id,
                            exc_info=True)
                continue
            if answer is None:
                lost.set()
                cancel.set()
                return
            if answer:
                cancel.set()


def verdict(outcome: EvaluationOutcome) -> tuple[EvalState, str | None, str | None]:
    """How a completed run ends (state, failure category, participant message): ``succeeded``
    when at least one case produced a valid output, else ``failed`` with the most frequent
    category. Every worker (the platform's and the evaluation sites') ends runs by this."""
    if outcome.n_ok > 0:
        return EvalState.succeeded, None, None
    worst = max(outcome.summary()["categories"].items(), key=lambda kv: kv[1])[0]
    message = next(c.message for c in outcome.cases if c.category == worst)
    return EvalState.failed, worst, f"no case produced a valid output ({message})"


def _owned(labels: Mapping[str, str], live: dict[int, int], instance: str) -> bool:
    """A container is kept while the database gives its evaluation, at its attempt, to a
    worker; containers of other platforms or started outside evaluations are left alone."""
    if labels.get(INSTANCE_LABEL) != instance:
        return True
    evaluation = labels.get(EVALUATION_LABEL)
    if evaluation is None or not evaluation.isdigit():
        return True
    return live.get(int(evaluation)) == int(labels.get(ATTEMPT_LABEL, "-1") or -1)


def _docker_executor(settings: Settings) -> Executor:
    from evaluator.sandbox.archive import ArchiveCaps
    from evaluator.sandbox.docker import DockerExecutor

    return DockerExecutor(retention=settings.image_retention,  # type: ignore[arg-type]
                          archive_caps=ArchiveCaps.for_upload_limit(
                              settings.max_submission_bytes))
