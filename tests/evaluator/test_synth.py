"""The synthetic MS test set: deterministic, MS-like lesion counts, sizes and places."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from challenge.cli import app
from challenge.cli.layout import check_layout
from evaluator import synth
from evaluator.io import read_header

SEED = 11
N_CASES = 8


@pytest.fixture(scope="module")
def cases() -> list[synth.SynthCase]:
    return [synth.make_case(SEED, i) for i in range(N_CASES)]


def test_same_seed_same_files_and_prefix_of_a_larger_set(tmp_path: Path) -> None:
    synth.write_dataset(tmp_path / "a", 2, seed=4)
    synth.write_dataset(tmp_path / "b", 3, seed=4)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.nii.gz"))
    assert len(files) == 4
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_another_seed_gives_other_cases() -> None:
    a, b = synth.make_case(1, 0), synth.make_case(2, 0)
    assert not np.array_equal(a.flair, b.flair)
    assert not np.array_equal(a.reference, b.reference)


def test_lesion_counts_follow_the_load_strata(cases: list[synth.SynthCase]) -> None:
    assert [c.stratum for c in cases] == [synth.LOAD_CYCLE[i % 4] for i in range(N_CASES)]
    for case in cases:
        low, high = synth.LOAD_COUNTS[case.stratum]
        assert low <= len(case.lesions) <= high <= 60
        _, n_components = ndimage.label(case.reference)
        # Neighbouring lesions may touch (confluence), never add components.
        assert (n_components == 0) == (len(case.lesions) == 0)
        assert n_components <= len(case.lesions)
    empty = [c.case_id for c in cases if not c.reference.any()]
    assert empty == ["case002", "case006"]


def test_any_three_consecutive_cases_hold_an_empty_and_a_high_load_case() -> None:
    for start in range(4):
        strata = {synth.LOAD_CYCLE[(start + k) % 4] for k in range(3)}
        assert "none" in strata or "high" in strata
    assert {synth.LOAD_CYCLE[k] for k in range(3)} >= {"none", "high"}


def test_lesion_volumes_span_small_foci_to_confluent_plaques(
        cases: list[synth.SynthCase]) -> None:
    lesions = [lesion for case in cases for lesion in case.lesions]
    voxel = cases[0].voxel_mm3
    assert voxel == pytest.approx(8.0)
    # Every lesion survives the msseg preset's "remove <= 3 mm3" filter.
    assert min(lesion.n_voxels for lesion in lesions) > np.floor(3.0 / voxel)
    assert min(lesion.volume_mm3 for lesion in lesions) > 3.0
    assert max(lesion.volume_mm3 for lesion in lesions) > 1000.0  # several mL
    assert max(lesion.volume_mm3 for lesion in lesions) < 12000.0
    volumes = np.array([lesion.volume_mm3 for lesion in lesions])
    assert 10.0 < np.median(volumes) < 200.0  # most MS lesions are small


def test_lesions_lie_in_white_matter_mostly_periventricular(
        cases: list[synth.SynthCase]) -> None:
    for case in cases:
        assert not (case.reference.astype(bool) & (case.tissue != synth.WM)).any()
    kinds = [lesion.kind for case in cases for lesion in case.lesions]
    counts = {k: kinds.count(k) for k in synth.KIND_P}
    assert counts["periventricular"] == max(counts.values())
    assert all(counts.values())


def test_flair_contrast_lesions_bright_csf_dark(cases: list[synth.SynthCase]) -> None:
    case = next(c for c in cases if c.stratum == "high")
    flair = case.flair.astype(np.float64)
    # Compare tissue cores (away from partial-volume edges).
    core = {k: ndimage.binary_erosion(case.tissue == k) for k in (synth.WM, synth.CSF)}
    wm = np.median(flair[core[synth.WM] & (case.reference == 0)])
    lesion = np.median(flair[ndimage.binary_erosion(case.reference > 0)])
    csf = np.median(flair[core[synth.CSF]])
    assert lesion > 1.3 * wm
    assert csf < 0.5 * wm
    assert case.flair.dtype == np.int16 and case.reference.dtype == np.uint8


def test_full_size_is_the_1mm_grid_with_four_voxel_minimum() -> None:
    case = synth.make_case(SEED, 3, "full")  # a low-load case keeps this quick
    assert case.flair.shape == (182, 218, 182) and case.voxel_mm3 == pytest.approx(1.0)
    assert min(lesion.n_voxels for lesion in case.lesions) >= 4


def test_written_set_has_the_upload_layout(tmp_path: Path) -> None:
    synth.write_dataset(tmp_path, 2, seed=3, t1=True)
    layout = check_layout(tmp_path)
    assert layout.cases == ["case001", "case002"]
    assert layout.channels == ["flair", "t1"]
    header = read_header(tmp_path / "inputs" / "case001" / "flair.nii.gz", max_voxels=2**24)
    assert tuple(header.shape) == (96, 112, 96)


def test_cli_writes_and_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["dataset", "synth", str(tmp_path), "--cases", "2"])
    assert first.exit_code == 0, first.output
    assert "wrote 2 case(s)" in first.output
    again = runner.invoke(app, ["dataset", "synth", str(tmp_path), "--cases", "1"])
    assert again.exit_code == 1 and "--force" in again.output
    forced = runner.invoke(app, ["dataset", "synth", str(tmp_path), "--cases", "1", "--force"])
    assert forced.exit_code == 0, forced.output
    assert check_layout(tmp_path).cases == ["case001"]
