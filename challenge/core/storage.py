"""The storage root: archives, hidden datasets and run outputs, as plain directories.

Layout (a shared mount when several worker hosts exist)::

    <root>/tmp/                         uploads in progress (same filesystem: renames are atomic)
    <root>/submissions/<key>.tar        image archives exactly as uploaded
    <root>/datasets/<key>/inputs/<case>/<channel>.nii.gz
    <root>/datasets/<key>/references/<case>.nii.gz   never mounted into a container, never served
    <root>/runs/<evaluation id>/        a run's work dir (outputs, copied out of the sandbox)
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from challenge.core.errors import PayloadTooLarge, StorageFull

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        for sub in ("tmp", "submissions", "datasets", "runs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def temp_path(self, suffix: str = "") -> Path:
        return self.root / "tmp" / f"{secrets.token_hex(16)}{suffix}"

    def new_key(self) -> str:
        return secrets.token_hex(16)

    def submission_path(self, key: str) -> Path:
        return self.root / "submissions" / f"{key}.tar"

    def dataset_dir(self, key: str) -> Path:
        return self.root / "datasets" / key

    def dataset_inputs(self, key: str, case_id: str) -> Path:
        return self.dataset_dir(key) / "inputs" / case_id

    def dataset_reference(self, key: str, case_id: str) -> Path:
        return self.dataset_dir(key) / "references" / f"{case_id}.nii.gz"

    def run_dir(self, evaluation_id: int) -> Path:
        return self.root / "runs" / str(evaluation_id)


async def receive_stream(chunks: AsyncIterator[bytes], dest: Path, max_bytes: int) -> tuple[int,
                                                                                          str]:
    """Write an upload stream to ``dest``, refusing it past ``max_bytes``.

    Returns (size in bytes, hex SHA-256). On any failure the partial file is removed.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with open(dest, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            raise StorageFull("the platform's storage is full; the upload was not kept and "
                              "nothing was charged; retry later") from exc
        raise
    return size, digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
