"""What a server process knows of a phase, and how long it trusts it without asking again.

A leaderboard request needs the phase row (who may see it, whether scores are hidden until
``closes_at``), its challenge's row (published?) and the results fingerprint (which snapshot).
:func:`read_state` reads them in two queries into a :class:`PhaseState`; :class:`Freshness`
keeps one per phase and reads it again only when it is older than ``recheck_seconds``, or when
:class:`ChangeListener` hears that the phase changed (PostgreSQL ``LISTEN``; the notices are
sent by ``challenge.core.notify`` in the transaction that makes the change). On SQLite the
interval alone bounds how stale a state may be.

Time-based rules are *not* frozen into the state: ``closes_at`` is kept and every request
decides visibility at its own ``now`` (``challenge.visibility.decide``), so a board hidden
until close shows its scores from the closing instant on, and never before, whatever the
cache holds. Only an edit of the phase (a new ``closes_at``, say) waits for the interval or
the notice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from sqlalchemy import func, inspect, literal, null, select, union_all
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from challenge.challenges.models import Challenge
from challenge.core import notify
from challenge.datasets.models import Dataset
from challenge.evaluations.models import TERMINAL_STATES, Evaluation
from challenge.phases.models import Phase, PhaseConfig
from challenge.phases.service import CurrentConfig
from challenge.submissions.models import Submission

log = logging.getLogger("segarena.leaderboard")
LISTENER_NAME = "segarena-leaderboard-listener"
T = TypeVar("T")
#: How long a claim to re-read a state (``Freshness.peek``) holds without the read, seconds.
CLAIM_SECONDS = 1.0
Key = tuple[int, int, str]


def fingerprint(db: Session, phase_id: int) -> str:
    """SHA-256 of what the phase's results depend on: count, greatest id and latest
    ``finished_at`` of its terminal evaluations, and the ids of selected submissions (a newly
    finished evaluation or a change of selection changes it); one query."""
    terminal = (
        select(literal(0).label("kind"), func.count(Evaluation.id).label("a"),
               func.max(Evaluation.id).label("b"), func.max(Evaluation.finished_at).label("c"))
        .join(Submission, Submission.id == Evaluation.submission_id)
        .where(Submission.phase_id == phase_id, Evaluation.state.in_(TERMINAL_STATES)))
    selected = select(literal(1), Submission.id, null(), null()).where(
        Submission.phase_id == phase_id, Submission.selected)
    rows: list[Any] = list(db.execute(union_all(terminal, selected).order_by("kind", "a")))
    text = "|".join(f"{r[1]},{r[2]},{r[3]}" for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()


def _copy(row: T | None) -> T | None:
    """A transient copy of an ORM row with its column values only: safe to share between
    request threads (no session, nothing lazily loaded)."""
    if row is None:
        return None
    mapper: Any = inspect(type(row))
    return type(row)(**{a.key: getattr(row, a.key) for a in mapper.column_attrs})


def _digest(*rows: object) -> str:
    parts: list[str] = []
    for row in rows:
        if row is None:
            parts.append("-")
            continue
        mapper: Any = inspect(type(row))
        parts += [f"{a.key}={getattr(row, a.key)!r}" for a in mapper.column_attrs]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class PhaseState:
    """A phase as one process last read it.

    Attributes:
        phase, challenge, current: transient copies of the rows (column values only): the
            phase, its challenge, its current config version and that version's dataset.
        key: the snapshot key (phase id, current config id, fingerprint of the results and of
            the current config's hash: an in-place config edit is a new snapshot too).
        rows: SHA-256 of every column of those four rows: what the pages show besides the
            snapshot (titles, schedule, settings, rules).
    """

    phase: Phase
    challenge: Challenge
    current: CurrentConfig
    key: Key
    rows: str


def read_state(db: Session, phase_id: int) -> PhaseState | None:
    """The phase's :class:`PhaseState` (two queries), or None when there is no such phase."""
    found = db.execute(
        select(Phase, Challenge, PhaseConfig, Dataset)
        .join(Challenge, Challenge.id == Phase.challenge_id)
        .join(PhaseConfig, PhaseConfig.id == Phase.current_config_id)
        .outerjoin(Dataset, Dataset.id == PhaseConfig.dataset_id)
        .where(Phase.id == phase_id)
        .execution_options(populate_existing=True)).first()
    if found is None:
        return None
    phase, challenge, config, dataset = found
    results = fingerprint(db, phase_id) + config.config_hash
    key = (phase.id, config.id, hashlib.sha256(results.encode()).hexdigest())
    return PhaseState(_copy(phase), _copy(challenge),  # type: ignore[arg-type]
                      CurrentConfig(_copy(config), _copy(dataset)),  # type: ignore[arg-type]
                      key, _digest(phase, challenge, config, dataset))


class Freshness:
    """The :class:`PhaseState` of each phase one process served, trusted ``recheck_seconds``
    (0: read on every request), or until :meth:`changed` says otherwise.

    Once the interval has passed, one request reads the state again: the first to
    :meth:`peek` at it claims that read (and gets None: it goes to :meth:`current`); until
    the read is over (or the claim is ``CLAIM_SECONDS`` old), the other requests of this
    process keep the kept state instead of each reading it too, in a thread of its own. So
    the interval is stretched by one read at most. A change heard (:meth:`changed`) drops the
    kept state at once, read under way or not.

    ``reads`` counts the states read from the database (tests, benchmarks).
    """

    def __init__(self, recheck_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recheck_seconds = recheck_seconds
        self.reads = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[int, tuple[PhaseState, float]] = {}
        self._reading: dict[int, int] = {}  # phase id -> reads of it under way
        self._claims: dict[int, float] = {}  # phase id -> when a peek claimed its read
        self._epoch = 0  # bumped by a change of every phase
        self._changes: dict[int, int] = {}  # phase id -> changes heard
        self._slugs: dict[tuple[str, str], int] = {}

    def _mark(self, phase_id: int) -> tuple[int, int]:
        return self._epoch, self._changes.get(phase_id, 0)

    def _trusted(self, phase_id: int, now: float, *, claims: bool) -> PhaseState | None:
        """The kept state if it may be used at ``now`` (call with the lock held); a claimed
        read counts only with ``claims`` (:meth:`current` is where the claimer reads)."""
        kept = self._states.get(phase_id)
        if kept is None:
            return None
        if now - kept[1] < self.recheck_seconds:
            return kept[0]
        if self.recheck_seconds > 0 and (
                self._reading.get(phase_id) or (
                    claims and now - self._claims.get(phase_id, -CLAIM_SECONDS) < CLAIM_SECONDS)):
            return kept[0]  # another request reads it again
        return None

    def current(self, db: Session, phase_id: int) -> PhaseState | None:
        """The phase's state: the kept one while trusted (no query), else read again."""
        started = self._clock()
        with self._lock:
            trusted = self._trusted(phase_id, started, claims=False)
            if trusted is not None:
                return trusted
            mark = self._mark(phase_id)
            self._reading[phase_id] = self._reading.get(phase_id, 0) + 1
        try:
            state = read_state(db, phase_id)
        except BaseException:
            with self._lock:
                self._done_reading(phase_id)
            raise
        with self._lock:  # one step: no request sees the read over and the old state kept
            self._done_reading(phase_id)
            self._claims.pop(phase_id, None)
            self.reads += 1
            if state is None:
                self._states.pop(phase_id, None)
            elif self._mark(phase_id) == mark:
                self._states[phase_id] = (state, started)
            # else: a change was heard while reading; keep nothing, the next request reads.
        return state

    def _done_reading(self, phase_id: int) -> None:
        left = self._reading.pop(phase_id) - 1
        if left:
            self._reading[phase_id] = left

    def peek(self, phase_id: int) -> PhaseState | None:
        """The kept state while trusted, else None; never reads the database (the event
        loop's fast path asks this: a None sends the request to :meth:`current`). A None
        for a kept state due for its recheck claims the read (see the class doc)."""
        now = self._clock()
        with self._lock:
            trusted = self._trusted(phase_id, now, claims=True)
            if trusted is None and self.recheck_seconds > 0 and phase_id in self._states:
                self._claims[phase_id] = now
            return trusted

    def changed(self, phase_id: int | None) -> None:
        """Forget phase ``phase_id`` (None: every phase), e.g. on a notice."""
        with self._lock:
            if phase_id is None:
                self._epoch += 1
                self._states.clear()
            else:
                self._changes[phase_id] = self._changes.get(phase_id, 0) + 1
                self._states.pop(phase_id, None)

    def phase_id_for(self, challenge_slug: str, phase_slug: str) -> int | None:
        """The phase id these slugs named when last resolved (check it against the state)."""
        with self._lock:
            return self._slugs.get((challenge_slug, phase_slug))

    def remember_slugs(self, challenge_slug: str, phase_slug: str, phase_id: int) -> None:
        with self._lock:
            if len(self._slugs) >= 4096:
                self._slugs.clear()
            self._slugs[(challenge_slug, phase_slug)] = phase_id


class ChangeListener:
    """One thread per server process, on a connection of its own, that ``LISTEN``s for
    ``challenge.core.notify`` and calls ``on_change(phase id or None)`` for each notice.

    A failed or dropped connection is opened again after ``retry_seconds``; on every
    (re)connection ``on_change(None)`` forgets everything, since notices sent meanwhile are
    lost. ``connected`` is set while it listens.
    """

    def __init__(self, url: URL, on_change: Callable[[int | None], None], *,
                 retry_seconds: float = 1.0, poll_seconds: float = 0.5) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.on_change = on_change
        self.retry_seconds = retry_seconds
        self.poll_seconds = poll_seconds
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=LISTENER_NAME, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("leaderboard change listener: %s; reconnecting", exc)
            finally:
                self.connected.clear()
            self._stop.wait(self.retry_seconds)

    def _listen(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5,
                             application_name=LISTENER_NAME) as conn:
            conn.execute(f"LISTEN {notify.CHANNEL}")
            self.on_change(None)
            self.connected.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=self.poll_seconds):
                    self.on_change(notify.parse(note.payload))
