"""``segarena dataset synth``: write a synthetic MS lesion test set in the upload layout."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from challenge.cli.output import err, fail, out, success


def synth(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT", help="folder to write (created)")],
    cases: Annotated[int, typer.Option("--cases", min=1, max=500, help="number of cases")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, help="same seed, same cases")] = 0,
    size: Annotated[str, typer.Option(
        "--size", help="small: 96×112×96 at 2 mm (fast); full: 182×218×182 at 1 mm")] = "small",
    t1: Annotated[bool, typer.Option("--t1", help="also write a T1-like channel")] = False,
    raters: Annotated[int, typer.Option(
        "--raters", min=0, max=16,
        help="also write N rater masks per case (0: none; otherwise 2-16)")] = 0,
    force: Annotated[bool, typer.Option(
        "--force", help="replace OUT/inputs and OUT/references if they exist")] = False,
) -> None:
    """Generate brain-phantom FLAIR cases with MS-like lesions and their reference masks.

    Writes OUT/inputs/<case>/flair.nii.gz (and t1.nii.gz with --t1) and
    OUT/references/<case>.nii.gz, the layout `segarena dataset upload` and
    `segarena test-container --cases` take. Deterministic: the same --seed and --size give the
    same cases, and the first cases of a larger set are those of a smaller one.

    With --raters N, each case also gets references/<case>/rater1..N.nii.gz: variants of the
    reference that differ the way experts do (a lesion's boundary a voxel out or in, small
    lesions missed, neighbouring lesions merged), deterministic by --seed.
    """
    from evaluator import synth as generator

    if raters == 1:
        fail("--raters needs two or more raters (or 0 for none)")
    if size not in generator.SIZES:
        fail(f"--size must be one of {', '.join(generator.SIZES)}, not {size!r}")
    existing = [p for p in (out_dir / "inputs", out_dir / "references") if p.exists()]
    if existing and not force:
        fail(f"{out_dir} holds a dataset already; pass --force to replace it")
    for path in existing:
        shutil.rmtree(path)
    table = Table(title=f"synthetic cases in {out_dir} (seed {seed}, {size})")
    # PV periventricular, JC juxtacortical; lesion volumes as placed (clipped to white matter)
    for column in ("case", "load", "lesions", "PV", "JC", "deep", "total mL", "min mm³",
                   "max mm³"):
        table.add_column(column, justify="right")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=err(), transient=True)
    with progress:
        task = progress.add_task("generating", total=cases)
        for index in range(cases):
            case = generator.make_case(seed, index, size, t1=t1)
            generator.write_case(case, out_dir, raters=raters, seed=seed)
            volumes = [lesion.volume_mm3 for lesion in case.lesions]
            kinds = [sum(lesion.kind == k for lesion in case.lesions) for k in generator.KIND_P]
            table.add_row(case.case_id, case.stratum, str(len(case.lesions)),
                          *map(str, kinds),
                          f"{case.reference.sum() * case.voxel_mm3 / 1000:.2f}",
                          f"{min(volumes):.0f}" if volumes else "-",
                          f"{max(volumes):.0f}" if volumes else "-")
            progress.advance(task)
    out().print(table)
    success(f"wrote {cases} case(s) to {out_dir}: inputs/<case>/flair.nii.gz"
            f"{' + t1.nii.gz' if t1 else ''}, references/<case>.nii.gz"
            f"{f' + references/<case>/rater1..{raters}.nii.gz' if raters else ''}")
