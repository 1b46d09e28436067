"""A dataset described without its voxels: case ids, channels, grids and file checksums.

An evaluation site keeps its hidden cases (DESIGN section 9); the platform registers the
phase's dataset from this manifest alone. ``segarena dataset manifest DIR`` computes it on the
data holder's machine (:func:`compute`), the platform validates it (:class:`Manifest`), and
the site worker checks its local files against it before every job (:func:`mismatches`).

The folder layout is the one an uploaded dataset has (``challenge.datasets.ingest``)::

    DIR/inputs/<case_id>/<channel>.nii.gz     the same channels for every case
    DIR/references/<case_id>.nii.gz           the reference mask, on the first channel's grid

A manifest names files by their SHA-256 only: no voxel, no header text, no path of the data
holder's machine. Its dataset checksum is the one an uploaded dataset of the same files gets
(``ingest.StagedDataset.checksum``), so a leaderboard states the same checksum either way.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from challenge.core.storage import sha256_file
from challenge.core.text import CaseId, ChannelName, DatasetName, Sha256Hex
from challenge.datasets.ingest import StagedCase, StagedDataset
from evaluator import io as nifti

MAX_MANIFEST_CASES = 10_000
MAX_CHANNELS = 16
#: The largest side of a grid a manifest may declare (voxels).
MAX_SIDE = 4096
SUFFIX = ".nii.gz"


class ManifestCase(BaseModel):
    """One case: its grid (``shape`` in voxels, ``affine`` the 4x4 voxel-to-world matrix in
    mm, of the first channel; the reference lies on it) and the SHA-256 of each file."""

    model_config = ConfigDict(extra="forbid")

    case_id: CaseId
    shape: list[int] = Field(min_length=3, max_length=3)
    affine: list[list[float]] = Field(min_length=4, max_length=4)
    input_checksums: dict[ChannelName, Sha256Hex] = Field(min_length=1,
                                                          max_length=MAX_CHANNELS)
    reference_checksum: Sha256Hex

    @field_validator("shape")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(not 1 <= n <= MAX_SIDE for n in value):
            raise ValueError(f"each side must be 1-{MAX_SIDE} voxels")
        return value

    @field_validator("affine")
    @classmethod
    def _finite_4x4(cls, value: list[list[float]]) -> list[list[float]]:
        if any(len(row) != 4 for row in value):
            raise ValueError("the affine must be a 4x4 matrix")
        if not all(math.isfinite(x) for row in value for x in row):
            raise ValueError("the affine must be finite")
        return value

    @property
    def voxels(self) -> int:
        return math.prod(self.shape)


class Manifest(BaseModel):
    """Every case of a dataset, each with exactly ``channels`` as inputs."""

    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelName] = Field(min_length=1, max_length=MAX_CHANNELS)
    cases: list[ManifestCase] = Field(min_length=1, max_length=MAX_MANIFEST_CASES)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must not repeat")
        ids = [c.case_id for c in self.cases]
        if len(set(ids)) != len(ids):
            raise ValueError("case ids must not repeat")
        wanted = set(self.channels)
        odd = [c.case_id for c in self.cases if set(c.input_checksums) != wanted]
        if odd:
            raise ValueError(f"{len(odd)} case(s) do not have exactly the channels "
                             f"{sorted(wanted)}, e.g. {odd[0]!r}")
        return self

    @property
    def checksum(self) -> str:
        """The dataset checksum (the one an upload of the same files gets)."""
        return StagedDataset(channels=sorted(self.channels), size_bytes=0, cases=[
            StagedCase(c.case_id, dict(c.input_checksums), c.reference_checksum, c.shape)
            for c in self.cases]).checksum


class ManifestDataset(Manifest):
    """``POST /challenges/{slug}/datasets/manifest``: a manifest and the dataset's name."""

    name: DatasetName


def input_path(root: Path, case_id: str, channel: str) -> Path:
    return root / "inputs" / case_id / f"{channel}{SUFFIX}"


def reference_path(root: Path, case_id: str) -> Path:
    return root / "references" / f"{case_id}{SUFFIX}"


def compute(root: Path, *, case_ids: list[str], channels: list[str],
            max_voxels: int) -> Manifest:
    """The manifest of ``root`` (layout in the module docstring) for ``case_ids`` and
    ``channels`` (a folder already checked, e.g. by ``challenge.cli.layout.check_layout``).

    Every file is decoded once (``evaluator.io.verify_voxels``, voxels capped by
    ``max_voxels``); the grid is the first channel's in alphabetical order, as an upload's.
    Raises ``nifti.NiftiError`` for a file that does not decode and ``ValueError`` when a
    channel or the reference is on another grid.
    """
    ordered = sorted(channels)
    cases = []
    for case_id in case_ids:
        grid = None
        checksums = {}
        for channel in ordered:
            path = input_path(root, case_id, channel)
            header = nifti.verify_voxels(path, max_voxels=max_voxels, mask=False)
            grid = grid or header
            _same_grid(grid, header, f"{case_id}: channel {channel}")
            checksums[channel] = sha256_file(path)
        reference = reference_path(root, case_id)
        assert grid is not None
        _same_grid(grid, nifti.verify_voxels(reference, max_voxels=max_voxels, mask=True),
                   f"{case_id}: reference")
        cases.append(ManifestCase(
            case_id=case_id, shape=[int(n) for n in grid.shape],
            affine=[[float(x) for x in row] for row in grid.affine],
            input_checksums=checksums, reference_checksum=sha256_file(reference)))
    return Manifest(channels=ordered, cases=cases)


def _same_grid(a: nifti.HeaderInfo, b: nifti.HeaderInfo, what: str) -> None:
    if not nifti.same_grid(a.shape, a.affine, b.shape, b.affine):
        raise ValueError(f"{what} is not on the grid of the case's first channel")


def mismatches(root: Path, cases: list[ManifestCase], channels: list[str]) -> list[str]:
    """What of ``root`` differs from ``cases``, for the ``channels`` a phase mounts and the
    references: missing files or a SHA-256 other than the manifest's. Empty when it all
    matches. Messages name case ids and channels only (they may be sent to the platform)."""
    problems = []
    for case in cases:
        wanted = [(input_path(root, case.case_id, c), case.input_checksums.get(c), c)
                  for c in channels]
        wanted.append((reference_path(root, case.case_id), case.reference_checksum,
                       "reference"))
        for path, checksum, what in wanted:
            if not path.is_file():
                problems.append(f"case {case.case_id}: {what} is missing")
            elif checksum is None or sha256_file(path) != checksum:
                problems.append(f"case {case.case_id}: {what} differs from the manifest")
    return problems
