"""Small engine-side helpers: error mapping, image presence, an image's user files."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator

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
