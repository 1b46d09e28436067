"""Where computed leaderboards live: the ``leaderboard_snapshots`` table, an LRU in front.

Key = (phase id, current config id, results fingerprint) (``leaderboard.freshness``). The
fingerprint summarises what a leaderboard depends on besides the config version: count,
greatest id and latest ``finished_at`` of the phase's terminal evaluations, the ids of the
submissions teams selected, and the config's hash. A newly finished
evaluation, a deleted submission, a change of selection or a new config version gives a new key,
so nothing is ever invalidated by hand: the stale key is simply never asked for again.

Reads: LRU hit -> done; else the database row for the key -> into the LRU; else compute. One
lock per key in each process makes concurrent requests for a key wait for a single computation
(processes may each compute once; the unique key keeps one row, the loser reads it back).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from challenge.core.db import release_connection, utcnow
from leaderboard.freshness import Freshness, Key
from leaderboard.models import LeaderboardSnapshot


class LeaderboardCache:
    """The LRU of one process (``maxsize`` snapshots) over the shared snapshot table, and
    ``states``: what the process last read of each phase, trusted ``recheck_seconds``
    (``leaderboard.freshness``; 0, the default here, reads on every request).

    ``enabled=False`` computes on every call and stores nothing (benchmarks, debugging).
    ``computations`` counts the snapshots this process computed.
    """

    def __init__(self, maxsize: int = 64, *, enabled: bool = True,
                 recheck_seconds: float = 0.0) -> None:
        self.maxsize = maxsize
        self.enabled = enabled
        self.states = Freshness(recheck_seconds if enabled else 0.0)
        self.computations = 0
        self._lru: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._rendered: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Key, threading.Lock] = {}

    def _remember(self, key: Key, payload: dict[str, Any]) -> None:
        with self._lock:
            self._lru[key] = payload
            self._lru.move_to_end(key)
            while len(self._lru) > self.maxsize:
                self._lru.popitem(last=False)

    def _recall(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            payload = self._lru.get(key)
            if payload is not None:
                self._lru.move_to_end(key)
            return payload

    def peek(self, key: Key) -> dict[str, Any] | None:
        """The payload of ``key`` if this process holds it, else None (no database read)."""
        return self._recall(key) if self.enabled else None

    def peek_rendered(self, key: tuple[Any, ...]) -> bytes | None:
        """The bytes :meth:`rendered` keeps for ``key``, else None (nothing is rendered)."""
        if not self.enabled:
            return None
        with self._lock:
            body = self._rendered.get(key)
            if body is not None:
                self._rendered.move_to_end(key)
            return body

    def rendered(self, key: tuple[Any, ...], render: Callable[[], bytes]) -> bytes:
        """A serialized view of a snapshot (JSON, CSV), made once per key and reader class.

        ``key`` must name the snapshot key and everything the view depends on besides it.
        """
        if not self.enabled:
            return render()
        body = self.peek_rendered(key)
        if body is not None:
            return body
        body = render()
        with self._lock:
            self._rendered[key] = body
            while len(self._rendered) > 4 * self.maxsize:
                self._rendered.popitem(last=False)
        return body

    def _key_lock(self, key: Key) -> threading.Lock:
        with self._lock:
            if len(self._key_locks) > 4 * self.maxsize:
                self._key_locks = {k: v for k, v in self._key_locks.items() if v.locked()}
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, db: Session, key: Key,
            compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The snapshot payload for ``key``; ``compute`` runs only when nobody has it yet."""
        if not self.enabled:
            self.computations += 1
            return compute()
        payload = self._recall(key)
        if payload is not None:
            return payload
        lock = self._key_lock(key)
        if lock.locked():  # another request computes this key: wait without a connection
            release_connection(db)
        with lock:
            payload = self._recall(key)
            if payload is None:
                payload = self._load(db, key)
            if payload is None:
                started = utcnow()
                payload = compute()
                self.computations += 1
                elapsed = int((utcnow() - started).total_seconds() * 1000)
                payload = self._store(db, key, payload, elapsed)
            self._remember(key, payload)
            return payload

    @staticmethod
    def _load(db: Session, key: Key) -> dict[str, Any] | None:
        return db.scalar(select(LeaderboardSnapshot.payload).where(
            LeaderboardSnapshot.phase_id == key[0], LeaderboardSnapshot.phase_config_id == key[1],
            LeaderboardSnapshot.fingerprint == key[2]))

    @staticmethod
    def _store(db: Session, key: Key, payload: dict[str, Any], elapsed_ms: int) -> dict[str, Any]:
        """Keep one snapshot per phase: replace older ones; on a race, keep the winner's."""
        try:
            with db.begin_nested():
                db.execute(delete(LeaderboardSnapshot).where(
                    LeaderboardSnapshot.phase_id == key[0],
                    ~((LeaderboardSnapshot.phase_config_id == key[1])
                      & (LeaderboardSnapshot.fingerprint == key[2]))))
                db.add(LeaderboardSnapshot(phase_id=key[0], phase_config_id=key[1],
                                           fingerprint=key[2], payload=payload,
                                           compute_ms=elapsed_ms))
            db.commit()
        except IntegrityError:  # another process stored this key first; the savepoint is undone
            stored = LeaderboardCache._load(db, key)
            if stored is not None:
                return stored
        return payload
