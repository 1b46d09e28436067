"""Private instances of the services segarena depends on, for fault injection.

Each fault test starts its own dockerd, PostgreSQL cluster or Redis server on private
sockets/ports and restarts only that instance (by the pid it started), so the machine's
shared services, and whatever else runs against them, are never disturbed. Every context
manager stops its instance in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

PG_BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass
class PrivateDockerd:
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.root}/d.sock"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=120)

    @property
    def bridge(self) -> str:
        return f"sgdbr{self.root.name[-6:]}"  # interface names are capped at 15 characters

    def start(self) -> None:
        # A bridge of its own: with --bridge=none dockerd deletes the host's docker0 at start,
        # which breaks the machine's real engine (bridged builds) for everything after.
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode:
            for cmd in (["ip", "link", "add", self.bridge, "type", "bridge"],
                        ["ip", "addr", "add", "192.0.2.1/24", "dev", self.bridge],
                        ["ip", "link", "set", self.bridge, "up"]):
                subprocess.run(cmd, check=True, capture_output=True)
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root",
             str(self.root / "exec"), "--pidfile", str(self.root / "d.pid"), "-H", self.url,
             f"--bridge={self.bridge}", "--iptables=false", "--ip6tables=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait(lambda: self.client().ping(), "the private dockerd to answer")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Like ``pkill dockerd`` (SIGTERM), for this instance only."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@contextlib.contextmanager
def private_dockerd() -> Iterator[PrivateDockerd]:
    root = Path(f"/tmp/sgd-{secrets.token_hex(3)}")  # short: unix socket paths are capped
    root.mkdir()
    engine = PrivateDockerd(root)
    try:
        engine.start()
        yield engine
    finally:
        if engine.proc is not None and engine.proc.poll() is None:
            with contextlib.suppress(Exception):
                client = engine.client()
                for container in client.containers.list(all=True):
                    container.remove(force=True)
        engine.stop()
        subprocess.run(["ip", "link", "delete", engine.bridge], capture_output=True)
        subprocess.run(["umount", "-R", "-l", str(root / "data")], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PrivatePostgres:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D",
                        str(self.root / "data"), "-l", str(self.root / "pg.log"), "-w",
                        *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c max_connections=200", "start")

    def restart(self) -> None:
        """What ``pg_ctlcluster ... restart`` does: a fast shutdown (every connection is
        terminated) and a start."""
        self._ctl("-m", "fast", "stop")
        self.start()


@contextlib.contextmanager
def private_postgres(port: int) -> Iterator[PrivatePostgres]:
    root = Path(f"/tmp/sgpg-{secrets.token_hex(3)}")
    root.mkdir()
    shutil.chown(root, "postgres", "postgres")
    pg = PrivatePostgres(root, port)
    subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D",
                    str(root / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    try:
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            pg._ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PrivateRedis:
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # The CI instance's options (no persistence), on a private port.
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.root), "--logfile",
             str(self.root / "redis.log")], start_new_session=True)
        _wait(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                     capture_output=True, text=True).stdout.strip() == "PONG",
              "the private redis to answer")

    def restart(self) -> None:
        """``redis-cli shutdown nosave`` (every queued message is lost) and a start."""
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
                       capture_output=True, timeout=30)
        if self.proc is not None:
            self.proc.wait(timeout=30)
        self.start()


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[PrivateRedis]:
    root = Path(f"/tmp/sgrd-{secrets.token_hex(3)}")
    root.mkdir()
    redis = PrivateRedis(root, port)
    try:
        redis.start()
        yield redis
    finally:
        if redis.proc is not None and redis.proc.poll() is None:
            redis.proc.terminate()
            redis.proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def small_tmpfs(size_kib: int) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` mounted on a fresh directory, unmounted afterwards."""
    mount = Path(f"/tmp/sgfs-{secrets.token_hex(3)}")
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "segarena-full", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def fill(directory: Path, leave_bytes: int = 0) -> Path:
    """Fill the filesystem of ``directory`` until at most ``leave_bytes`` are free."""
    filler = directory / "filler.bin"
    with open(filler, "wb") as out:
        try:
            while True:
                free = shutil.disk_usage(directory).free
                if free <= leave_bytes:
                    break
                out.write(bytes(min(1 << 20, max(4096, free - leave_bytes))))
                out.flush()
        except OSError:
            pass
    return filler
