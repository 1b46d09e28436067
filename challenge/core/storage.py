"""The storage root: archives, hidden datasets and run outputs, as plain directories.

Layout (a shared mount when several worker hosts exist)::

    <root>/tmp/                         uploads in progress (same filesystem: renames are atomic)
    <root>/submissions/<key>.tar        image archives exactly as uploaded
    <root>/datasets/<key>/inputs/<case>/<channel>.nii.gz
    <root>/datasets/<key>/references/<case>.nii.gz   never mounted into a container, never served
    <root>/datasets/<key>/references/<case>/<rater>.nii.gz   each rater's mask, likewise
    <root>/datasets/<key>/ranked/<rule>/<case>.nii.gz   a ranked reference built from the
                                        raters under one rule, at first use; likewise
    <root>/runs/<evaluation id>/        a run's work dir (outputs, copied out of the sandbox)
"""

from __future__ import annotations

import errno
import hashlib
import secrets
import shutil
from pathlib import Path

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

    def dataset_rater(self, key: str, case_id: str, rater: str) -> Path:
        return self.dataset_dir(key) / "references" / case_id / f"{rater}.nii.gz"

    def dataset_ranked(self, key: str, rule: str, case_id: str) -> Path:
        return self.dataset_dir(key) / "ranked" / rule / f"{case_id}.nii.gz"

    def run_dir(self, evaluation_id: int) -> Path:
        return self.root / "runs" / str(evaluation_id)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
