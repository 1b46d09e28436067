"""In-process sliding-window limiter for failed authentication attempts (per client address,
or per any key: the web sign-in also limits per account, ``challenge.web.accounts.signin``).

Only failures are counted and only failures are refused: ``accounts.authenticate`` checks a
token before it asks ``blocked``, so a valid token is accepted from a blocked address (a
password sign-in asks first and refuses even a right password while blocked: a password can
be guessed, a token cannot). The address is the peer's unless a trusted proxy forwarded
another (``SEGARENA_TRUSTED_PROXIES``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    """At most ``max_failures`` failures per key in any ``window_seconds``.

    Per key only the last ``max_failures`` failure times are kept (enough to decide), and a key
    whose failures have all left the window is forgotten.
    """

    def __init__(self, max_failures: int, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` returns seconds (monotonic); tests pass a fake one instead of sleeping."""
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and now - events[0] > self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def blocked(self, key: str) -> bool:
        with self._lock:
            events = self._recent(key, self.clock())
            return events is not None and len(events) >= self.max_failures

    def record_failure(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if events is None:
                events = self._events[key] = deque(maxlen=self.max_failures)
            events.append(now)
