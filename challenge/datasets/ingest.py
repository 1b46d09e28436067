"""Unpack and validate an uploaded hidden-dataset archive into a staging directory.

Accepted layout (tar, optionally gzip; an optional single top-level folder is allowed)::

    inputs/<case_id>/<channel>.nii.gz     one file per channel, the same channels for every case
    references/<case_id>.nii.gz           the reference mask, on the grid of the first channel
    references/<case_id>/<rater>.nii.gz   optional: one binary mask per rater (two or more),
                                          then the file above is the optional given consensus

Every NIfTI file's header is inspected for identifying content as it is extracted, before its
checksum is taken (``challenge.datasets.identifiers``): content in a free-text field or a
header extension refuses the dataset, or with ``strip_identifiers`` the file is replaced by a
stripped copy, so the checksums and the stored files are those of the stripped copies.

Everything else is refused with a clear error: links, devices, path traversal, unknown files,
archives that expand past the size cap, cases without a reference, broken NIfTI headers,
cases whose raters differ from the other cases' (``inconsistent_raters``, naming the case and
the rater), rater masks that are not binary or not on the inputs' grid, and voxel data that
do not decode (every input volume and reference mask is decoded once here,
so a dataset that is accepted never makes an evaluation fail later).
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from challenge.core.errors import InvalidInput, PayloadTooLarge, StorageFull
from challenge.core.storage import NO_SPACE, sha256_file
from challenge.core.text import CASE_ID, CHANNEL, RATER
from challenge.datasets.identifiers import HeaderDoor
from evaluator import io as nifti

MAX_MEMBERS = 100_000
#: Most raters a case may have.
MAX_RATERS = 16
#: What an archive file holds: ("input", case id, channel), ("reference", case id, None) or
#: ("rater", case id, rater name).
Entry = tuple[str, str, str | None]


@dataclass
class StagedCase:
    case_id: str
    input_checksums: dict[str, str] = field(default_factory=dict)
    reference_checksum: str = ""
    shape: list[int] = field(default_factory=list)
    rater_checksums: dict[str, str] = field(default_factory=dict)


@dataclass
class StagedDataset:
    channels: list[str]
    cases: list[StagedCase]
    size_bytes: int
    #: file in the dataset -> header fields stripped from it (names only, never content)
    stripped: dict[str, list[str]] = field(default_factory=dict)
    raters: list[str] = field(default_factory=list)

    @property
    def checksum(self) -> str:
        digest = hashlib.sha256()
        for case in sorted(self.cases, key=lambda c: c.case_id):
            digest.update(case.case_id.encode())
            for channel in sorted(case.input_checksums):
                digest.update(f"{channel}:{case.input_checksums[channel]}".encode())
            digest.update(f"reference:{case.reference_checksum}".encode())
            for rater in sorted(case.rater_checksums):  # none: the one-reference checksum
                digest.update(f"rater:{rater}:{case.rater_checksums[rater]}".encode())
        return digest.hexdigest()


def _bad(message: str, code: str = "invalid_dataset_archive") -> InvalidInput:
    return InvalidInput(message, code=code)


def _classify(name: str, prefix: str | None) -> Entry | None:
    """Map an archive member name to ("input", case, channel) or ("reference", case, None)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise _bad(f"archive entry {name!r} points outside the archive", "unsafe_archive_entry")
    parts = [p for p in path.parts if p not in ("", ".")]
    if prefix is not None and parts and parts[0] == prefix:
        parts = parts[1:]
    if len(parts) == 3 and parts[0] == "inputs" and parts[2].endswith(".nii.gz"):
        case, channel = parts[1], parts[2][: -len(".nii.gz")]
        if not CASE_ID.matches(case) or not CHANNEL.matches(channel):
            raise _bad(f"bad case id or channel name in {name!r}")
        return "input", case, channel
    if len(parts) == 2 and parts[0] == "references" and parts[1].endswith(".nii.gz"):
        case = parts[1][: -len(".nii.gz")]
        if not CASE_ID.matches(case):
            raise _bad(f"bad case id in {name!r}")
        return "reference", case, None
    if len(parts) == 3 and parts[0] == "references" and parts[2].endswith(".nii.gz"):
        case, rater = parts[1], parts[2][: -len(".nii.gz")]
        if not CASE_ID.matches(case) or not RATER.matches(rater):
            raise _bad(f"bad case id or rater name in {name!r} (rater: {RATER.description})")
        return "rater", case, rater
    return None


def _top_prefix(names: list[str]) -> str | None:
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(tops) == 1:
        top = next(iter(tops))
        if top not in ("inputs", "references"):
            return top
    return None


def unpack(archive: Path, staging: Path, *, max_bytes: int, max_voxels: int,
           strip_identifiers: bool = False) -> StagedDataset:
    """Extract ``archive`` into ``staging`` (must not exist) and validate every case.

    ``max_bytes`` caps the sum of the extracted files' sizes (``PayloadTooLarge`` past it);
    ``max_voxels`` caps each volume. Identifying header content refuses the archive (422
    ``identifying_headers``) unless ``strip_identifiers``, which strips it (``stripped``
    lists what). A refused archive is ``InvalidInput`` with its own code (module docstring);
    a full disk is ``StorageFull``.
    """
    tar = _open_tar(archive)
    staging.mkdir(parents=True)
    door = HeaderDoor(strip=strip_identifiers)
    with _read_errors_refused(), tar:
        members = _members(tar)
        cases, total = _extract_all(tar, members, staging, max_bytes, door)
    door.close()
    staged = _validate(staging, list(cases.values()), total + door.size_change, max_voxels)
    staged.stripped = door.found
    return staged


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _bad("the upload is not a tar or tar.gz archive", "not_a_tar") from exc


@contextmanager
def _read_errors_refused() -> Iterator[None]:
    """Errors met while reading or extracting: a full disk is the platform's fault
    (``StorageFull``); anything else means a truncated or corrupt archive (a 422)."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise StorageFull("the platform's storage is full; the dataset was not kept") from exc
        raise _bad("the archive is truncated or corrupt", "truncated_archive") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise _bad("the archive is truncated or corrupt", "truncated_archive") from exc


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every entry of ``tar``, refused past ``MAX_MEMBERS`` (read no further)."""
    members = []
    for member in tar:
        members.append(member)
        if len(members) > MAX_MEMBERS:
            raise _bad("the archive has too many entries")
    return members


def _extract_all(tar: tarfile.TarFile, members: list[tarfile.TarInfo], staging: Path,
                 max_bytes: int, door: HeaderDoor) -> tuple[dict[str, StagedCase], int]:
    """Extract every file entry into the canonical layout under ``staging``, pass it through
    the header ``door`` and checksum what the door leaves; returns the cases by id and the
    extracted size in bytes (before any stripping)."""
    prefix = _top_prefix([m.name for m in members])
    cases: dict[str, StagedCase] = {}
    total = 0
    for member in members:
        entry = _entry(member, prefix)
        if entry is None:
            continue
        total += member.size
        if total > max_bytes:
            raise PayloadTooLarge(f"the dataset expands past {max_bytes} bytes")
        dest = _destination(staging, entry)
        _copy(tar, member, dest)
        door.admit(dest, dest.relative_to(staging).as_posix())
        _record(cases, entry, sha256_file(dest))
    return cases, total


def _entry(member: tarfile.TarInfo, prefix: str | None) -> Entry | None:
    """What a file entry holds; None for a folder (checked for traversal only). Links,
    devices and files outside the layout are refused."""
    if member.isdir():
        _classify(member.name + "/x", prefix)  # traversal check only
        return None
    if not member.isfile():
        raise _bad(f"archive entry {member.name!r} is not a regular file "
                   "(links and devices are refused)", "unsafe_archive_entry")
    entry = _classify(member.name, prefix)
    if entry is None:
        raise _bad(f"unexpected file {member.name!r}: expected "
                   "inputs/<case>/<channel>.nii.gz, references/<case>.nii.gz or "
                   "references/<case>/<rater>.nii.gz")
    return entry


def _destination(staging: Path, entry: Entry) -> Path:
    """Where ``entry`` goes under ``staging`` (its folder made); a second entry for one
    place is refused."""
    role, case_id, channel = entry
    rel = (Path("inputs") / case_id / f"{channel}.nii.gz" if role == "input"
           else Path("references") / case_id / f"{channel}.nii.gz" if role == "rater"
           else Path("references") / f"{case_id}.nii.gz")
    dest = staging / rel
    if dest.exists():
        raise _bad(f"duplicate entry for {rel}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _copy(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    """Copy ``member``'s bytes to ``dest`` in 1 MiB blocks; fewer than its header says is a
    truncated archive."""
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    copied = 0
    with source, open(dest, "wb") as out:
        for block in iter(lambda: source.read(1 << 20), b""):
            copied += len(block)
            out.write(block)
    if copied != member.size:
        raise _bad("the archive is truncated", "truncated_archive")


def _record(cases: dict[str, StagedCase], entry: Entry, checksum: str) -> None:
    role, case_id, channel = entry
    case = cases.setdefault(case_id, StagedCase(case_id))
    if role == "input":
        assert channel is not None
        case.input_checksums[channel] = checksum
    elif role == "rater":
        assert channel is not None
        case.rater_checksums[channel] = checksum
    else:
        case.reference_checksum = checksum


def _validate(staging: Path, cases: list[StagedCase], total: int,
              max_voxels: int) -> StagedDataset:
    if not cases:
        raise _bad("the archive holds no cases", "empty_dataset")
    channel_sets = {tuple(sorted(c.input_checksums)) for c in cases}
    if len(channel_sets) != 1 or not next(iter(channel_sets)):
        raise _bad("every case must have the same, non-empty set of input channels",
                   "inconsistent_channels")
    channels = sorted(next(iter(channel_sets)))
    raters = _consistent_raters(cases)
    # The first channel (alphabetical unless a phase orders them) defines the case's grid.
    for case in sorted(cases, key=lambda c: c.case_id):
        if not case.reference_checksum and not case.rater_checksums:
            raise _bad(f"case {case.case_id!r} has no reference mask", "missing_reference")
        grid = None
        for channel in channels:
            path = staging / "inputs" / case.case_id / f"{channel}.nii.gz"
            header = _decoded(path, max_voxels, f"case {case.case_id!r} channel {channel!r}",
                              mask=False)
            if grid is None:
                grid = header
            elif not _same_grid(grid, header):
                raise _bad(f"case {case.case_id!r}: channel {channel!r} is on another grid than "
                           f"{channels[0]!r}", "grid_mismatch")
        assert grid is not None
        if case.reference_checksum:
            reference = _decoded(staging / "references" / f"{case.case_id}.nii.gz",
                                 max_voxels, f"case {case.case_id!r} reference", mask=True)
            if not _same_grid(grid, reference):
                raise _bad(f"case {case.case_id!r}: the reference is not on the inputs' grid",
                           "grid_mismatch")
        _check_raters(staging, case, grid, max_voxels)
        case.shape = [int(n) for n in grid.shape]
    return StagedDataset(channels=channels, cases=cases, size_bytes=total, raters=raters)


def _consistent_raters(cases: list[StagedCase]) -> list[str]:
    """The dataset's raters, sorted: every case must have the same ones (none, or two to
    ``MAX_RATERS``). A 422 ``inconsistent_raters`` names the first case (by id) missing a
    rater and that rater."""
    every = sorted({r for c in cases for r in c.rater_checksums})
    if not every:
        return []
    if len(every) > MAX_RATERS:
        raise _bad(f"the dataset has {len(every)} raters; at most {MAX_RATERS} are allowed",
                   "too_many_raters")
    if len(every) < 2:
        raise _bad(f"rater {every[0]!r} is the only rater: a dataset with rater masks needs "
                   "two or more raters (one reference goes in references/<case>.nii.gz)",
                   "too_few_raters")
    for case in sorted(cases, key=lambda c: c.case_id):
        absent = [r for r in every if r not in case.rater_checksums]
        if absent:
            raise _bad(f"case {case.case_id!r} has no mask of rater {absent[0]!r} "
                       f"(expected references/{case.case_id}/{absent[0]}.nii.gz): every case "
                       f"needs the same raters ({', '.join(every)})", "inconsistent_raters")
    return every


def _check_raters(staging: Path, case: StagedCase, grid: nifti.HeaderInfo,
                  max_voxels: int) -> None:
    """Each rater mask of ``case`` decodes, is on the inputs' ``grid`` and holds only 0 and 1
    (a 422 naming the case and the rater otherwise)."""
    for rater in sorted(case.rater_checksums):
        path = staging / "references" / case.case_id / f"{rater}.nii.gz"
        what = f"case {case.case_id!r} rater {rater!r}"
        header = _decoded(path, max_voxels, what, mask=True)
        if not _same_grid(grid, header):
            raise _bad(f"{what}: the mask is not on the inputs' grid", "grid_mismatch")
        values = np.unique(nifti.load_volume(path, max_voxels=max_voxels).array)
        if not np.isin(values, (0, 1)).all():
            raise _bad(f"{what}: the mask is not binary (values other than 0 and 1)",
                       "rater_mask_not_binary")


def _decoded(path: Path, max_voxels: int, what: str, *, mask: bool) -> nifti.HeaderInfo:
    """The header of ``path`` once all its voxels decoded (a mask also without NaN); a 422
    naming the case otherwise."""
    try:
        return nifti.verify_voxels(path, max_voxels=max_voxels, mask=mask)
    except nifti.NiftiError as exc:
        raise _bad(f"{what}: {exc}", f"invalid_nifti_{exc.code}") from exc


def _same_grid(a: nifti.HeaderInfo, b: nifti.HeaderInfo) -> bool:
    return nifti.same_grid(a.shape, a.affine, b.shape, b.affine)
