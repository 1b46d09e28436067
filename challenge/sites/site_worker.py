"""``segarena site-worker``: evaluate a phase's submissions where its hidden cases live.

A thin HTTP client (no database, no broker) around the evaluator the platform's own workers
run: lease a job (``challenge.sites.leases``), download the submission archive and verify its
SHA-256, check the local data against the manifest (``challenge.datasets.manifest``), load the
image and check its digest, then ``evaluator.pipeline.evaluate`` — the same sandbox, output
checks and scoring — posting each case's metrics or sanitized category as soon as it is
scored. A heartbeat thread keeps the lease; when the platform says it is lost, the run stops.

What never leaves the machine: reference masks, outputs, container logs (written under
``logs_dir`` for the site operator) and local paths. Messages sent to the platform name case
ids, channels and error codes only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from challenge.datasets.manifest import ManifestCase, input_path, mismatches, reference_path
from challenge.evaluations.worker import (
    ATTEMPT_LABEL,
    EVALUATION_LABEL,
    INSTANCE_LABEL,
    instance_id,
)
from evaluator.pipeline import EVALUATOR_VERSION, CaseInput, CaseOutcome, evaluate
from evaluator.sandbox import AlgorithmError, Executor, PlatformError
from evaluator.spec import EvaluationSpec

SITE_WORKER_VERSION = "0.1.0"
log = logging.getLogger("segarena.site_worker")


class LeaseLost(Exception):
    """The platform no longer gives this job to this site (expired, revoked, cancelled)."""


@dataclass
class SiteApi:
    """The site routes of one platform, authenticated by the site token."""

    url: str
    token: str
    timeout: float = 60.0

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=f"{self.url.rstrip('/')}/api/v1", timeout=self.timeout,
                                 headers={"Authorization": f"Bearer {self.token}"})

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code == 409:
            raise LeaseLost(response.json().get("error", {}).get("code", "conflict"))
        response.raise_for_status()
        return response

    def lease(self) -> dict[str, Any] | None:
        return self._call("POST", "/site/lease",
                          json={"worker_version": SITE_WORKER_VERSION}).json()["job"]

    def heartbeat(self, lease_id: str) -> bool:
        return bool(self._call("POST", f"/site/leases/{lease_id}/heartbeat").json()["cancel"])

    def download(self, lease_id: str, dest: Path) -> str:
        """Stream the archive to ``dest``; returns its SHA-256."""
        digest = hashlib.sha256()
        with self.http.stream("GET", f"/site/leases/{lease_id}/archive") as response:
            if response.status_code == 409:
                raise LeaseLost("lease_not_held")
            response.raise_for_status()
            with open(dest, "wb") as out:
                for block in response.iter_bytes(1 << 20):
                    digest.update(block)
                    out.write(block)
        return digest.hexdigest()

    def running(self, lease_id: str) -> None:
        self._call("POST", f"/site/leases/{lease_id}/running")

    def report(self, lease_id: str, outcome: CaseOutcome) -> None:
        body = {"status": outcome.status, "category": outcome.category,
                "metrics": outcome.metrics, "flags": list(outcome.flags)}
        self._call("PUT", f"/site/leases/{lease_id}/cases/{outcome.case_id}", json=body)

    def finish(self, lease_id: str, outcome: str, **fields: str) -> str:
        body = {"outcome": outcome, "evaluator_version": EVALUATOR_VERSION, **fields}
        return str(self._call("POST", f"/site/leases/{lease_id}/finish", json=body)
                   .json()["state"])


@dataclass
class SiteWorker:
    """``data_dir`` holds ``inputs/<case>/<channel>.nii.gz`` and ``references/<case>.nii.gz``;
    ``work_dir`` receives archives and run folders (removed after each job); ``logs_dir`` the
    container logs, one file per lease. ``instance`` labels this site's containers."""

    api: SiteApi
    data_dir: Path
    work_dir: Path
    logs_dir: Path
    executor_factory: Callable[[], Executor]
    max_voxels: int = 512 * 512 * 512
    instance: str = ""

    def __post_init__(self) -> None:
        self.instance = self.instance or instance_id(f"site:{self.api.url}:{self.data_dir}")
        self._executor: Executor | None = None

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = self.executor_factory()
        return self._executor

    def remove_leftovers(self) -> int:
        """Remove containers a killed run of this site left behind (before any job runs)."""
        return self.executor.remove_orphans(
            lambda labels: labels.get(INSTANCE_LABEL) != self.instance)

    def run_forever(self, stop: threading.Event, poll_seconds: float = 5.0) -> None:
        while not stop.is_set():
            if self.run_once() is None:
                stop.wait(poll_seconds)

    def run_once(self) -> str | None:
        """Lease and evaluate one job; returns its final state, None when none waits or the
        lease was lost."""
        job = self.api.lease()
        if job is None:
            return None
        log.info("leased a job with %d case(s)", len(job["cases"]))
        return self._process(job)

    def _process(self, job: dict[str, Any]) -> str | None:
        lease_id = job["lease_id"]
        work = self.work_dir / lease_id
        work.mkdir(parents=True, exist_ok=True)
        cancel, lost, stop = threading.Event(), threading.Event(), threading.Event()
        beat = threading.Thread(target=self._heartbeat, daemon=True,
                                args=(lease_id, float(job["heartbeat_seconds"]), cancel, lost,
                                      stop))
        beat.start()
        try:
            return self._execute(job, work, cancel, lost)
        except LeaseLost:
            log.warning("lease lost; the platform offers the job again")
            return None
        except AlgorithmError as exc:
            return self.api.finish(lease_id, "algorithm_error", code=exc.code,
                                   message=exc.message[:500])
        except Exception as exc:  # the site's fault: the job is offered again
            log.exception("site fault")
            reason = exc.message if isinstance(exc, PlatformError) else type(exc).__name__
            return self.api.finish(lease_id, "platform_error", message=reason[:500])
        finally:
            stop.set()
            beat.join(timeout=5)
            shutil.rmtree(work, ignore_errors=True)

    def _execute(self, job: dict[str, Any], work: Path, cancel: threading.Event,
                 lost: threading.Event) -> str | None:
        lease_id = job["lease_id"]
        archive = work / "submission.tar"
        if self.api.download(lease_id, archive) != job["archive_sha256"]:
            raise PlatformError("the downloaded archive does not match its SHA-256")
        spec = EvaluationSpec.model_validate(job["spec"])
        cases = [ManifestCase.model_construct(**c) for c in job["cases"]]
        problems = mismatches(self.data_dir, cases, list(spec.channels))
        if problems:
            raise PlatformError("local data does not match the manifest: "
                                + "; ".join(problems[:5]))
        info = self.executor.load_image(archive, options=spec.sandbox_options())
        if info.image_id != job["image_digest"]:
            raise PlatformError("the loaded image does not match the recorded digest")
        self.api.running(lease_id)

        def report(outcome: CaseOutcome) -> None:
            try:
                self.api.report(lease_id, outcome)
            except LeaseLost:
                lost.set()
                cancel.set()

        labels = {EVALUATION_LABEL: lease_id, ATTEMPT_LABEL: "0", INSTANCE_LABEL: self.instance}
        outcome = evaluate(self.executor, image_id=info.image_id,
                           cases=self._stage(cases, list(spec.channels), work),
                           spec=spec, max_voxels=self.max_voxels, work_dir=work / "sandbox",
                           on_case=report, cancel_event=cancel, labels=labels)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        (self.logs_dir / f"{lease_id}.log").write_text(outcome.organizer_log)
        if lost.is_set():
            raise LeaseLost("lease_not_held")
        return self.api.finish(lease_id, "cancelled" if outcome.cancelled else "completed")

    def _stage(self, cases: list[ManifestCase], channels: list[str],
               work: Path) -> list[CaseInput]:
        """Only the phase's channels, linked (or copied across file systems) into a run
        folder: a container never sees another file of the data folder."""
        staged = []
        for case in cases:
            folder = work / "inputs" / case.case_id
            folder.mkdir(parents=True)
            for channel in channels:
                source = input_path(self.data_dir, case.case_id, channel)
                try:
                    os.link(source, folder / source.name)
                except OSError:
                    shutil.copyfile(source, folder / source.name)
            staged.append(CaseInput(case.case_id, folder,
                                    reference_path(self.data_dir, case.case_id)))
        return staged

    def _heartbeat(self, lease_id: str, interval: float, cancel: threading.Event,
                   lost: threading.Event, stop: threading.Event) -> None:
        while not stop.wait(interval):
            try:
                if self.api.heartbeat(lease_id):
                    cancel.set()
            except LeaseLost:
                lost.set()
                cancel.set()
                return
            except httpx.HTTPError:  # the platform briefly away: the lease's grace covers it
                log.warning("heartbeat failed", exc_info=True)
