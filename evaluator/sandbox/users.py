"""Resolve an image's USER to a numeric uid:gid without running the image.

A USER given by name could map to uid 0 in the image's own ``/etc/passwd``
(``toor:x:0:0``), so names are resolved from the image's files, and the
container is then started with the numeric ``uid:gid`` (no second lookup).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evaluator.sandbox.base import AlgorithmError, PlatformError

#: Shown when an image would run as root.
ROOT_MESSAGE = (
    "The image runs as root (USER {user!r}). Set a non-root user in the Dockerfile, "
    "e.g. `USER 1000:1000` or `USER nobody`, and submit again."
)


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int

    @property
    def docker_user(self) -> str:
        return f"{self.uid}:{self.gid}"


def _table(text: str | None) -> dict[str, list[str]]:
    """name -> fields of a passwd/group file (first entry wins, like libc)."""
    rows: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] and not line.startswith("#"):
            rows.setdefault(fields[0], fields)
    return rows


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 10 else None


def resolve_user(user: str, passwd: str | None, group: str | None) -> ResolvedUser:
    """Resolve ``USER`` (``name``, ``uid``, ``name:group``, ``uid:gid``...).

    ``passwd``/``group`` are the image's files (None when absent). A numeric uid
    missing from passwd gets gid = uid unless a group is given. Raises
    ``AlgorithmError`` code ``root_user`` when the result is uid 0, and
    ``user_unresolvable`` when a name is not defined in the image.
    """
    name, _, grp = user.strip().partition(":")
    if name in {"", "root"}:
        raise AlgorithmError(ROOT_MESSAGE.format(user=user), code="root_user")
    users = _table(passwd)
    uid = _int(name)
    primary: int | None = None
    if uid is None:
        row = users.get(name)
        uid = _int(row[2]) if row else None
        primary = _int(row[3]) if row else None
        if uid is None:
            raise AlgorithmError(
                f"USER {user!r} is not defined in the image's /etc/passwd",
                code="user_unresolvable",
            )
    else:
        row = next((r for r in users.values() if r[2] == str(uid)), None)
        primary = _int(row[3]) if row else None
    if uid == 0:
        raise AlgorithmError(ROOT_MESSAGE.format(user=user), code="root_user")
    if grp:
        gid = _int(grp)
        if gid is None:
            row = _table(group).get(grp)
            gid = _int(row[2]) if row else None
            if gid is None:
                raise AlgorithmError(
                    f"group {grp!r} of USER {user!r} is not defined in the image's /etc/group",
                    code="user_unresolvable",
                )
    else:
        gid = primary if primary is not None else uid
    return ResolvedUser(uid=uid, gid=gid)


def _allows(st: os.stat_result, user: ResolvedUser, need: int) -> bool:
    """Permission bits only: capabilities are dropped, so even uid 0 has no override."""
    if st.st_uid == user.uid:
        bits = st.st_mode >> 6
    elif st.st_gid == user.gid:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & need == need


def check_inputs_readable(inputs: Mapping[str, Path], user: ResolvedUser) -> None:
    """Raise ``PlatformError`` unless every case dir is a directory the container's
    user may list and enter, and every file in it is readable. A staging mistake
    would otherwise look like (and be charged as) a crashing algorithm."""
    for case_id, case_dir in inputs.items():
        try:
            st = os.stat(case_dir)
        except OSError as exc:
            raise PlatformError(f"input directory of case {case_id!r} is missing") from exc
        if not stat.S_ISDIR(st.st_mode) or not _allows(st, user, 0o5):
            raise PlatformError(
                f"input directory of case {case_id!r} is not readable by uid {user.uid}"
            )
        for entry in os.scandir(case_dir):
            if entry.is_file() and not _allows(entry.stat(), user, 0o4):
                raise PlatformError(
                    f"input {entry.name!r} of case {case_id!r} is not readable by uid {user.uid}"
                )
