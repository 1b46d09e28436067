"""Small engine-side helpers: error mapping, image presence, an image's user files,
timestamps, cgroup memory peaks."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import docker
import docker.errors
import requests

from evaluator.sandbox.base import AlgorithmError, PlatformError

#: Label on every container the sandbox creates (for leftover sweeps).
LABEL = "segarena.sandbox"
_USER_FILE_CAP = 1024 * 1024


@contextlib.contextmanager
def engine_errors(action: str) -> Iterator[None]:
    """Turn engine/transport failures into ``PlatformError`` (retried, never charged);
    ``AlgorithmError``/``PlatformError`` raised inside pass through unchanged."""
    try:
        yield
    except (AlgorithmError, PlatformError):
        raise
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise PlatformError(f"docker engine failed while {action}: {exc}") from exc


def image_exists(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return False
    return True


def remove_image(client: docker.DockerClient, image_id: str) -> None:
    """Force-remove an image; a missing image or an engine refusal is ignored."""
    with contextlib.suppress(docker.errors.DockerException):
        client.images.remove(image_id, force=True)


def _read_small_file(client: docker.DockerClient, cid: str, path: str) -> str | None:
    """A regular file of a (created, never started) container, or None when absent,
    not a regular file (e.g. a symlink) or larger than 1 MiB."""
    try:
        stream, _stat = client.api.get_archive(cid, path)
    except docker.errors.NotFound:
        return None
    buf = bytearray()
    for chunk in stream:
        buf += chunk
        if len(buf) > _USER_FILE_CAP + 64 * 1024:
            return None
    with tarfile.open(fileobj=io.BytesIO(bytes(buf))) as tar:
        member = next((m for m in tar if m.isreg()), None)
        fh = tar.extractfile(member) if member is not None else None
        return fh.read(_USER_FILE_CAP).decode("utf-8", "replace") if fh is not None else None


def image_user_files(
    client: docker.DockerClient, image_id: str
) -> tuple[str, str | None, str | None]:
    """(USER, /etc/passwd, /etc/group) of an image. The files are copied out of a
    container that is created but never started, then removed with its volumes."""
    attrs = client.images.get(image_id).attrs
    user = (attrs.get("Config") or {}).get("User") or ""
    cid = client.api.create_container(
        image_id,
        entrypoint=["/nonexistent"],
        command=[],
        network_disabled=True,
        labels={LABEL: "1"},
    )["Id"]
    try:
        passwd = _read_small_file(client, cid, "/etc/passwd")
        group = _read_small_file(client, cid, "/etc/group")
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            client.api.remove_container(cid, v=True, force=True)
    return user, passwd, group


_MEMORY_CGROUP_FILES = (  # peak memory, cgroup v1 (cgroupfs, systemd) then v2
    "/sys/fs/cgroup/memory/docker/{id}/memory.max_usage_in_bytes",
    "/sys/fs/cgroup/memory/system.slice/docker-{id}.scope/memory.max_usage_in_bytes",
    "/sys/fs/cgroup/docker/{id}/memory.peak",
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.peak",
)


def parse_engine_time(value: str | None) -> datetime | None:
    """An engine timestamp (RFC 3339, nanoseconds) as an aware datetime; None if unset."""
    if not value or value.startswith("0001-"):
        return None
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def start_failure_exit_code(message: str) -> int | None:
    """Exit code ``docker run`` reports when the image's command cannot start
    (127: not found, 126: not executable); None for any other (platform) failure."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message and "exec" in message:
        return 126
    return None


def peak_memory(container_id: str) -> int | None:
    """Peak memory (bytes) of a running container from its cgroup, when readable."""
    for pattern in _MEMORY_CGROUP_FILES:
        with contextlib.suppress(OSError, ValueError):
            return int(Path(pattern.format(id=container_id)).read_text().strip())
    return None
