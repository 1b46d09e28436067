"""Writes a job's scored cases to the database from a thread of its own, a group at a time.

The pipeline hands each scored case to ``put`` and goes on at once; the writer thread takes
every case waiting (at most ``max_group``) and stores them with one ``lifecycle.record_cases``
transaction. A slow case (per_case mode, one container at a time) is written alone as soon as
it is scored, so progress advances as before; a burst (batch mode: every case scored after
the one container exits) costs a few transactions instead of one per case. The worker calls
``close`` before any other write of the job, so every case is stored, exactly once, before
the job moves on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from challenge.evaluations import lifecycle
from challenge.evaluations.lifecycle import CaseRecord, JobRef

_DONE = object()


class CaseRecorder:
    """``put`` records, ``close`` waits until all are stored (re-raising a write's error).

    ``on_lost`` is called once when the job turns out to be lost (the compare-and-set of a
    write matched no row) or a write failed; later records are then dropped, since nothing
    more may be written for this job.
    """

    def __init__(self, factory: sessionmaker[Session], job: JobRef,
                 on_lost: Callable[[], None], max_group: int = 64) -> None:
        self._factory = factory
        self._job = job
        self._on_lost = on_lost
        self._max_group = max_group
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self.lost = False
        #: Transactions that stored at least one case (for tests and benchmarks).
        self.writes = 0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"recorder-{job.evaluation_id}")
        self._thread.start()

    def put(self, record: CaseRecord) -> None:
        self._queue.put(record)

    def close(self) -> None:
        """Store what is still queued, stop the thread; raises the error a write raised."""
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        done = False
        while not done:
            group: list[CaseRecord] = []
            item = self._queue.get()
            while True:
                if item is _DONE:
                    done = True
                    break
                assert isinstance(item, CaseRecord)
                group.append(item)
                if len(group) >= self._max_group:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if group and not self.lost:
                self._write(group)

    def _write(self, group: list[CaseRecord]) -> None:
        try:
            with self._factory() as db:
                stored = lifecycle.record_cases(db, self._job, group)
        except BaseException as exc:  # database away: the worker reports a platform fault
            self._error = exc
            stored = False
        if stored:
            self.writes += 1
            return
        self.lost = True
        self._on_lost()
