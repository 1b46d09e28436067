"""The ``/output`` directory of a container: a size-capped mount, and defensive collection.

Capping: when the platform runs as root (the default worker setup), each container
gets its own tmpfs mounted on the host inside the run's work dir with
``size=<cap>,nr_inodes=<n>,uid,gid,mode=0770,nosuid,nodev,noexec`` and
bind-mounted at ``/output``. A container that writes more gets ``ENOSPC``; the
host disk is never touched. After the container has exited (and been removed),
the expected files are copied to a platform-owned directory, then the tmpfs is
unmounted. tmpfs pages live in RAM, so the cap should stay well below free memory.

Fallback (``capping="auto"`` when mounting is not permitted, e.g. a rootless
worker): ``/output`` is a plain host directory; the size cap is then enforced only
when collecting (oversize files are refused) and a container can fill the disk
holding the work dir up to the run's wall time. Put the work dir on a filesystem
with a quota in that case, or use ``capping="tmpfs"`` to fail instead of falling back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Literal

from evaluator.sandbox.base import Failure, FailureCategory, PlatformError

log = logging.getLogger(__name__)

Capping = Literal["auto", "tmpfs", "directory"]
_COPY_CHUNK = 1024 * 1024


class OutputMount:
    """Context manager: a directory to bind at ``/output``, size-capped when possible.

    ``size_bytes`` is the filesystem size; ``uid``/``gid`` own its root (the
    container's user). On exit the mount is removed and the directory deleted.
    """

    def __init__(
        self,
        path: Path,
        *,
        size_bytes: int,
        uid: int,
        gid: int,
        max_files: int = 4096,
        capping: Capping = "auto",
    ) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self.uid = uid
        self.gid = gid
        self.max_files = max_files
        self.capping = capping
        self.mounted = False

    def __enter__(self) -> OutputMount:
        if os.path.ismount(self.path):  # left by a worker that died mid-run
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
        self._remove_dir()
        self.path.mkdir(parents=True, exist_ok=False, mode=0o700)
        if self.capping != "directory":
            error = self._mount()
            if error is None:
                self.mounted = True
                return self
            if self.capping == "tmpfs":
                self._remove_dir()
                raise PlatformError(f"cannot mount the /output tmpfs: {error}")
            log.warning("output not size-capped, mounting a tmpfs failed: %s", error)
        # Fallback: a plain directory the container's user can write to.
        try:
            os.chown(self.path, self.uid, self.gid)
            os.chmod(self.path, 0o770)
        except PermissionError:
            os.chmod(self.path, 0o777)
        return self

    def _mount(self) -> str | None:
        if os.geteuid() != 0:
            return "not running as root"
        opts = (
            f"size={self.size_bytes},nr_inodes={self.max_files},mode=0770,"
            f"uid={self.uid},gid={self.gid},nosuid,nodev,noexec"
        )
        try:
            proc = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", opts, "segarena-output", str(self.path)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        return None if proc.returncode == 0 else (proc.stderr.strip() or "mount failed")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Unmount (lazily if busy) and delete the directory; safe to call twice."""
        if self.mounted:
            proc = subprocess.run(
                ["umount", str(self.path)], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                log.warning("umount %s failed (%s); lazy unmount", self.path, proc.stderr.strip())
                proc = subprocess.run(
                    ["umount", "-l", str(self.path)], capture_output=True, text=True, check=False
                )
                if proc.returncode != 0:
                    raise PlatformError(f"cannot unmount {self.path}: {proc.stderr.strip()}")
            self.mounted = False
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


def _invalid(check: str) -> Failure:
    return Failure(FailureCategory.INVALID_OUTPUT, check=check)


def _safe_copy(dir_fd: int, name: str, dest: Path, max_bytes: int) -> Failure | None:
    """Copy ``name`` (relative to ``dir_fd``) to ``dest`` if it is a small regular
    file with a single link; never follows a symlink, never opens a device."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return Failure(FailureCategory.MISSING_OUTPUT)
    if stat.S_ISLNK(st.st_mode):
        return _invalid("symlink")
    if not stat.S_ISREG(st.st_mode):
        return _invalid("not_a_regular_file")
    if st.st_nlink > 1:
        return _invalid("hardlink")
    if st.st_size > max_bytes:
        return _invalid("too_large")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError:  # ELOOP: replaced by a symlink; ENXIO: a socket...
        return _invalid("not_a_regular_file")
    try:
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(fst.st_mode):
            return _invalid("not_a_regular_file")
        if fst.st_nlink > 1:
            return _invalid("hardlink")
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        copied = 0
        try:
            while chunk := os.read(fd, _COPY_CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    break
                os.write(out, chunk)
        finally:
            os.close(out)
        if copied > max_bytes:
            dest.unlink()
            return _invalid("too_large")
        return None
    finally:
        os.close(fd)


def collect_outputs(
    src: Path, case_ids: list[str], dest: Path, *, max_bytes: int
) -> dict[str, Path | Failure]:
    """Copy ``src/<case_id>.nii.gz`` for each case to ``dest`` (a platform-owned dir).

    Only regular files with one link and at most ``max_bytes`` bytes are copied;
    nothing else in ``src`` is looked at. Returns, per case, the copied path or a
    ``Failure`` (``missing_output``, or ``invalid_output`` with check ``symlink``,
    ``hardlink``, ``not_a_regular_file`` or ``too_large``). Call it only after the
    container has stopped, so nothing changes underneath.
    """
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    result: dict[str, Path | Failure] = {}
    dir_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for case_id in case_ids:
            target = dest / f"{case_id}.nii.gz"
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            failure = _safe_copy(dir_fd, f"{case_id}.nii.gz", target, max_bytes)
            result[case_id] = failure if failure is not None else target
    finally:
        os.close(dir_fd)
    return result
