"""Size-capped capture of a container's stdout and stderr.

The executor attaches to the container *before* starting it and keeps only the last
``cap`` bytes of each stream in memory, in a background thread. Nothing is read
back from the engine's log files afterwards (which races with the engine still
flushing them), and the container is created with the ``none`` log driver, so a
chatty container writes nothing to the host's disk.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from docker.utils.socket import STDERR, STDOUT, frames_iter


class _Tail:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.seen = 0

    def add(self, data: bytes) -> None:
        self.seen += len(data)
        self.buf += data
        if len(self.buf) > self.cap:
            del self.buf[: len(self.buf) - self.cap]

    def text(self) -> str:
        return bytes(self.buf).decode("utf-8", "replace")


class OutputCapture:
    """Attach to a created container's output; ``start()`` before the container
    starts, ``finish()`` after it has exited. ``cap`` is in bytes, per stream."""

    def __init__(self, api: Any, container_id: str, cap: int) -> None:
        self._api = api
        self._id = container_id
        self._stdout = _Tail(cap)
        self._stderr = _Tail(cap)
        self._sock: Any = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        #: Set when the output stream ends, normally because the container exited.
        self.ended = threading.Event()

    def start(self) -> None:
        params = {"stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
        self._sock = self._api.attach_socket(self._id, params=params)
        # A quiet algorithm must not hit the client's read timeout.
        for sock in (self._sock, getattr(self._sock, "_sock", None)):
            if sock is not None and hasattr(sock, "settimeout"):
                sock.settimeout(None)
        self._thread = threading.Thread(target=self._pump, name=f"logs-{self._id[:12]}")
        self._thread.daemon = True
        self._thread.start()

    def _pump(self) -> None:
        try:
            for stream, data in frames_iter(self._sock, tty=False):
                if stream == STDOUT:
                    self._stdout.add(data)
                elif stream == STDERR:
                    self._stderr.add(data)
        except (OSError, ValueError) as exc:  # socket closed under us by finish()
            self.error = exc
        finally:
            self.ended.set()

    def finish(self, timeout_s: float = 10.0) -> tuple[str, str, bool]:
        """Wait for the stream to end (the container has exited), then return
        (stdout tail, stderr tail, whether anything was cut)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.close()
        if self._thread is not None:
            self._thread.join(1.0)
        cut = self._stdout.seen > self._stdout.cap or self._stderr.seen > self._stderr.cap
        return self._stdout.text(), self._stderr.text(), cut

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            inner = getattr(self._sock, "_sock", None)
            if inner is not None:
                with contextlib.suppress(OSError):
                    inner.close()
