"""Local check of a dataset folder and an on-the-fly tar.gz of it (``segarena dataset upload``).

Layout (the server's ``challenge.datasets.ingest`` accepts the same)::

    DIR/inputs/<case_id>/<channel>.nii.gz    the same channels for every case
    DIR/references/<case_id>.nii.gz          one reference mask per case, on the inputs' grid
    DIR/references/<case_id>/<rater>.nii.gz  optional: each rater's mask (two or more raters;
                                             then the file above is the optional consensus)
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from challenge.core.text import CASE_ID, CHANNEL, RATER
from evaluator import io as nifti

SUFFIX = ".nii.gz"
HEADER_MAX_VOXELS = 2048**3  # the server applies its own, smaller cap


class LayoutError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Layout:
    root: Path
    cases: list[str]
    channels: list[str]
    files: list[tuple[Path, str]] = field(default_factory=list)  # (path, name in the archive)
    skipped: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path, _ in self.files)


def _visible(entries: Iterator[Path], skipped: list[str], root: Path) -> list[Path]:
    kept = []
    for entry in sorted(entries):
        if entry.name.startswith("."):
            skipped.append(str(entry.relative_to(root)))
        else:
            kept.append(entry)
    return kept


def _scan_inputs(root: Path, problems: list[str], skipped: list[str]) -> dict[str, list[str]]:
    cases: dict[str, list[str]] = {}
    for case_dir in _visible((root / "inputs").iterdir(), skipped, root):
        rel = case_dir.relative_to(root)
        if not case_dir.is_dir():
            problems.append(f"{rel}: expected a folder inputs/<case>/ holding <channel>.nii.gz")
            continue
        if not CASE_ID.matches(case_dir.name):
            problems.append(f"{rel}: case id must be {CASE_ID.description}")
            continue
        channels = []
        for f in _visible(case_dir.iterdir(), skipped, root):
            name = f.name
            if not f.is_file() or not name.endswith(SUFFIX):
                problems.append(f"{f.relative_to(root)}: expected <channel>.nii.gz files only")
            elif not CHANNEL.matches(name[: -len(SUFFIX)]):
                problems.append(f"{f.relative_to(root)}: channel name must be "
                                f"{CHANNEL.description}")
            else:
                channels.append(name[: -len(SUFFIX)])
        if not channels:
            problems.append(f"{rel}: no <channel>.nii.gz input")
        cases[case_dir.name] = sorted(channels)
    return cases


def _scan_references(root: Path, problems: list[str], skipped: list[str]) -> set[str]:
    refs = set()
    for f in _visible((root / "references").iterdir(), skipped, root):
        if f.is_dir() and CASE_ID.matches(f.name):
            continue  # a case's rater folder (_scan_raters)
        case = f.name[: -len(SUFFIX)] if f.name.endswith(SUFFIX) else ""
        if not f.is_file() or not CASE_ID.matches(case):
            problems.append(f"{f.relative_to(root)}: expected references/<case>.nii.gz files only")
        else:
            refs.add(case)
    return refs


def _scan_raters(root: Path, problems: list[str], skipped: list[str]) -> dict[str, list[str]]:
    """case -> its raters' names (sorted), from ``references/<case>/<rater>.nii.gz``; whether
    every case has the same raters is the server's check (it names the case and rater)."""
    raters: dict[str, list[str]] = {}
    for folder in _visible((root / "references").iterdir(), skipped, root):
        if not (folder.is_dir() and CASE_ID.matches(folder.name)):
            continue
        for f in _visible(folder.iterdir(), skipped, root):
            name = f.name[: -len(SUFFIX)] if f.name.endswith(SUFFIX) else ""
            if not f.is_file() or not RATER.matches(name):
                problems.append(f"{f.relative_to(root)}: expected "
                                f"references/<case>/<rater>.nii.gz ({RATER.description})")
            else:
                raters.setdefault(folder.name, []).append(name)
    return {case: sorted(names) for case, names in raters.items()}


def _check_headers(layout: Layout, problems: list[str]) -> None:
    """Read every NIfTI header (no voxel data) and compare each case's grids."""
    for case in layout.cases:
        # the case's files in layout order: its channels, then its reference(s)
        paths = [(name, path) for path, name in layout.files
                 if name.split("/")[1].removesuffix(SUFFIX) == case]
        first = None
        for rel, path in paths:
            try:
                header = nifti.read_header(path, max_voxels=HEADER_MAX_VOXELS)
            except nifti.NiftiError as exc:
                problems.append(f"{rel}: {exc}")
                break
            if first is None:
                first = header
            elif not nifti.same_grid(first.shape, first.affine, header.shape, header.affine):
                problems.append(f"{rel}: not on the grid of {paths[0][0]} (shape "
                                f"{tuple(header.shape)} vs {tuple(first.shape)} or the affine "
                                "differs)")


def check_layout(root: Path, *, headers: bool = True) -> Layout:
    """Validate ``root``; raises :class:`LayoutError` listing every problem found."""
    if not root.is_dir():
        raise LayoutError([f"{root} is not a folder"])
    missing = [sub for sub in ("inputs", "references") if not (root / sub).is_dir()]
    if missing:
        raise LayoutError([f"{root} has no {sub}/ folder" for sub in missing] + [
            "expected DIR/inputs/<case>/<channel>.nii.gz and DIR/references/<case>.nii.gz"])
    problems: list[str] = []
    skipped: list[str] = []
    cases = _scan_inputs(root, problems, skipped)
    consensus = _scan_references(root, problems, skipped)
    raters = _scan_raters(root, problems, skipped)
    refs = consensus | set(raters)
    if not cases and not problems:
        problems.append(f"{root}/inputs holds no case folders")
    channel_sets = {tuple(chs) for chs in cases.values() if chs}
    if len(channel_sets) > 1:
        detail = ", ".join(f"{case}: {chs}" for case, chs in sorted(cases.items()))
        problems.append(f"every case must have the same channels ({detail})")
    problems += [f"inputs/{c}/ has no reference references/{c}{SUFFIX}"
                 for c in sorted(set(cases) - refs)]
    problems += [f"references/{c}{SUFFIX} has no inputs/{c}/ folder"
                 for c in sorted(refs - set(cases))]
    if problems:
        raise LayoutError(problems)
    channels = list(next(iter(channel_sets)))
    layout = Layout(root=root, cases=sorted(cases), channels=channels, skipped=skipped)
    for case in layout.cases:
        layout.files += [(root / "inputs" / case / f"{c}{SUFFIX}", f"inputs/{case}/{c}{SUFFIX}")
                         for c in channels]
        if case in consensus:
            layout.files.append((root / "references" / f"{case}{SUFFIX}",
                                 f"references/{case}{SUFFIX}"))
        layout.files += [(root / "references" / case / f"{r}{SUFFIX}",
                          f"references/{case}/{r}{SUFFIX}") for r in raters.get(case, [])]
    if headers:
        _check_headers(layout, problems)
        if problems:
            raise LayoutError(problems)
    return layout


class _Sink:
    """A write-only file object whose bytes are handed out by :meth:`drain`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class _Counting:
    def __init__(self, f: BinaryIO, counter: list[int]) -> None:
        self._f = f
        self._counter = counter

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._counter[0] += len(data)
        return data


def tar_stream(layout: Layout, read_bytes: list[int]) -> Iterator[bytes]:
    """Yield a gzip-compressed tar of the dataset, one member at a time (nothing on disk).

    ``read_bytes[0]`` counts the source bytes consumed, for a progress bar. Owners, modes and
    times are normalized so the archive reveals nothing about the organizer's machine.
    """
    sink = _Sink()
    with tarfile.open(fileobj=sink, mode="w|gz") as tar:  # type: ignore[call-overload]
        for path, arcname in layout.files:
            info = tarfile.TarInfo(arcname)
            info.size = path.stat().st_size
            info.mode = 0o644
            with open(path, "rb") as f:
                tar.addfile(info, _Counting(f, read_bytes))
            yield sink.drain()
    yield sink.drain()
