"""``segarena dataset check``: find identifying NIfTI header content before an upload.

The inspection is the server's own (:mod:`evaluator.headers`), run locally: every ``.nii``
and ``.nii.gz`` under a folder is read up to the end of its header extensions, and each file
whose free-text fields or extensions hold something is named with those fields. Content is
never printed (it can be a patient's name). ``--strip --out OUT`` writes stripped copies of
every NIfTI file, byte for byte what ``upload --strip-identifiers`` would store.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from challenge.cli.output import err, fail, note, success
from challenge.cli.sanitize import shown
from evaluator import headers
from evaluator import io as nifti


def findings(files: list[tuple[Path, str]]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Inspect each (path, name) pair: fields with content by name, and files whose header
    could not be read by name (the error's message, which holds no content)."""
    found: dict[str, list[str]] = {}
    unreadable: dict[str, str] = {}
    for path, name in files:
        try:
            fields = headers.inspect(path)
        except nifti.NiftiError as exc:
            unreadable[name] = exc.message
            continue
        if fields:
            found[name] = fields
    return found, unreadable


def report(found: dict[str, list[str]], unreadable: dict[str, str]) -> None:
    """One stderr line per file: its name and the fields that hold content."""
    for name, fields in sorted(found.items()):
        err().print(f"[bold red]identifying content:[/] {shown(name)}: "
                    f"{shown(', '.join(fields))}", soft_wrap=True)
    for name, message in sorted(unreadable.items()):
        err().print(f"[bold red]unreadable header:[/] {shown(name)}: {shown(message)}",
                    soft_wrap=True)


def _strip_all(root: Path, files: list[Path], out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        fail(f"{out_dir} is not empty; choose a new --out folder (nothing was written)")
    if out_dir.resolve().is_relative_to(root.resolve()):
        fail("--out must be outside the folder checked (nothing was written)")
    for path in files:
        dest = out_dir / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        headers.strip(path, dest)


def check(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="folder to inspect")],
    strip: Annotated[bool, typer.Option(
        "--strip", help="write a copy of every NIfTI file without identifying content to --out")
    ] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="folder for the stripped copies (with --strip; new or empty)")] = None,
    json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Inspect every .nii / .nii.gz under DIR for header content that can identify a patient:
    the free-text fields (descrip, aux_file, intent_name, db_name, data_type; NIfTI-2
    unused_str), every header extension (DICOM, AFNI, comments, JSON, unknown codes) and the
    gzip file name and comment. Names each file and field, never the content; exits 1 when
    anything is found, as the server refuses such a dataset unless it is uploaded with
    --strip-identifiers."""
    if not directory.is_dir():
        fail(f"{directory} is not a folder")
    if strip and out_dir is None:
        fail("--strip needs --out OUT, the folder for the stripped copies")
    files = headers.nifti_files(directory)
    found, unreadable = findings([(p, p.relative_to(directory).as_posix()) for p in files])
    if json:
        typer.echo(jsonlib.dumps({"files": len(files), "identifying": found,
                                  "unreadable": unreadable}, indent=2))
    else:
        report(found, unreadable)
    if unreadable:
        fail(f"{len(unreadable)} file(s) have a header that cannot be read")
    if strip and out_dir is not None:
        _strip_all(directory, files, out_dir)
        success(f"wrote {len(files)} file(s) without identifying header content to {out_dir}")
        return
    if found:
        fail(f"{len(found)} of {len(files)} NIfTI file(s) carry identifying header content",
             hint="strip it with `segarena dataset check DIR --strip --out OUT`, or upload "
                  "with --strip-identifiers")
    if not json:
        note(f"{len(files)} NIfTI file(s) checked: no identifying header content")
