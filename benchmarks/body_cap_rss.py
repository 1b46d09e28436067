"""Resident memory of a segarena server sent a 150 MiB JSON body to the unauthenticated sign-up.

Run by hand, not by pytest: ``PYTHONPATH=$PWD python benchmarks/body_cap_rss.py`` (an
absolute path: the server runs in a temporary directory). The server runs
the code on PYTHONPATH in a subprocess (uvicorn, SQLite, no worker); the body is streamed from a
raw socket, once with a Content-Length and once chunked, and the server's VmRSS and VmHWM
(peak) are read from /proc before and after each request. Prints one line per request.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
SERVER = """
import sys, uvicorn
from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.evaluations.dispatch import NoDispatcher
url = f"sqlite:///{sys.argv[1]}/segarena.db"
migrate.upgrade(url)
settings = Settings(environment="test", database_url=url, storage_root=sys.argv[1] + "/storage",
                    worker_mode="off")
uvicorn.run(create_app(settings, dispatcher=NoDispatcher()), host="127.0.0.1",
            port=int(sys.argv[2]), log_level="error")
"""


def _memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, size: int, chunked: bool) -> tuple[str, int]:
    """POST a ``size``-byte JSON body; (status line, bytes the server let us send)."""
    head = b'{"username": "rss-probe", "email": "'
    tail = b'"}'
    filler = size - len(head) - len(tail)
    headers = ["POST /api/v1/users HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
               "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"]
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        pieces = [head] + [b"a" * MiB] * (filler // MiB) + [b"a" * (filler % MiB), tail]
        try:
            for piece in pieces:
                data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                conn.sendall(data)
                sent += len(piece)
            if chunked:
                conn.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the end of the body
        conn.settimeout(120)
        try:
            status = conn.recv(4096).split(b"\r\n", 1)[0].decode()
        except (ConnectionResetError, TimeoutError):
            status = "(connection reset before an answer was read)"
    return status, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=150, help="body size in MiB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        # cwd=tmp: "python -c" puts the working directory first on sys.path
        server = subprocess.Popen([sys.executable, "-c", SERVER, tmp, str(port)], cwd=tmp,
                                  env=os.environ.copy())
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.1)
            for chunked in (False, True):
                before = _memory_mib(server.pid)
                status, sent = _send(port, args.mib * MiB, chunked)
                time.sleep(1)
                after = _memory_mib(server.pid)
                print(f"{'chunked' if chunked else 'content-length'}: {status!r}; "
                      f"client sent {sent / MiB:.1f} MiB; server RSS {before[0]:.0f} -> "
                      f"{after[0]:.0f} MiB, peak {before[1]:.0f} -> {after[1]:.0f} MiB")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
