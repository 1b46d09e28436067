"""Commands that run evaluations on this machine: ``worker`` and ``test-container``."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.table import Table

from challenge.cli.layout import LayoutError, check_layout
from challenge.cli.output import fail, log_tail, note, out, print_text
from challenge.cli.sanitize import shown
from challenge.phases.config import PhaseConfigSpec


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="evaluations at once")] = 1,
) -> None:
    """Run a scale-out evaluation worker (Celery, broker from SEGARENA_BROKER_URL).

    Needs PostgreSQL (SEGARENA_DATABASE_URL), the shared storage root and a local Docker engine.
    """
    from challenge.core.config import get_settings
    from challenge.evaluations.celery_app import run_worker

    settings = get_settings()
    note(f"segarena worker: broker {settings.broker_url}, database {settings.database_url}, "
         f"concurrency {concurrency}")
    run_worker(concurrency, settings)


def _phase_config(path: Path | None) -> PhaseConfigSpec:
    if path is None:
        return PhaseConfigSpec()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read {path}: {exc}")
    if isinstance(data, dict) and "config" in data:  # a phase block of a challenge spec
        data = data["config"] or {}
    try:
        return PhaseConfigSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"{path}: {where}: {first['msg']}")


def _check_reference(root: Path, cases: list[str], spec: PhaseConfigSpec) -> None:
    """Refuse, as the platform would, a reference rule the cases cannot satisfy."""
    from evaluator.consensus import rule_mismatch

    raters = any((root / "references" / case).is_dir() for case in cases)
    lacking = next((c for c in cases if not (root / "references" / f"{c}.nii.gz").is_file()),
                   None)
    mismatch = rule_mismatch(spec.reference.mode, has_raters=raters,
                             case_without_consensus=lacking)
    if mismatch is not None:
        fail(f"{mismatch[1]} [{mismatch[0]}]")


def _stage(root: Path, cases: list[str], channels: list[str], work: Path) -> list[Any]:
    from evaluator.pipeline import CaseInput

    staged = []
    for case in cases:
        source = root / "inputs" / case
        wanted = {f"{c}.nii.gz" for c in channels}
        input_dir = source
        if {p.name for p in source.iterdir()} != wanted:
            input_dir = work / "inputs" / case
            input_dir.mkdir(parents=True)
            for name in sorted(wanted):
                shutil.copy2(source / name, input_dir / name)
        raters = root / "references" / case  # several raters: references/<case>/<rater>.nii.gz
        staged.append(CaseInput(case, input_dir.resolve(),
                                (root / "references" / f"{case}.nii.gz").resolve(),
                                {p.name.removesuffix(".nii.gz"): p.resolve()
                                 for p in sorted(raters.glob("*.nii.gz"))}
                                if raters.is_dir() else {}))
    return staged


def test_container(
    archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                            help="a `docker save` archive of your algorithm")],
    cases: Annotated[Path, typer.Option(exists=True, file_okay=False,
                                        help="DIR with inputs/<case>/<channel>.nii.gz and "
                                             "references/<case>.nii.gz")],
    phase_config: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False,
        help="YAML: a phase block of a challenge spec (its `config:`) or the config itself")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document on stdout")]
    = False,
) -> None:
    """Run your algorithm exactly as the platform will: same sandbox, output checks, scoring."""
    from challenge.core.config import get_settings
    from evaluator.pipeline import evaluate
    from evaluator.sandbox import SandboxError
    from evaluator.sandbox.docker import DockerExecutor

    spec = _phase_config(phase_config)
    try:
        layout = check_layout(cases)
    except LayoutError as exc:
        fail("; ".join(exc.problems))
    missing = sorted(set(spec.channels) - set(layout.channels))
    if missing:
        fail(f"the phase needs channels {missing}, the cases have {layout.channels}")
    _check_reference(cases, layout.cases, spec)
    executor = DockerExecutor()
    with tempfile.TemporaryDirectory(prefix="segarena-test-") as tmp:
        work = Path(tmp)
        try:
            info = executor.load_image(archive, options=spec.sandbox_options())
            staged = _stage(cases.resolve(), layout.cases, spec.channels, work)
            if not as_json:
                note(f"image {info.image_id[:19]}… user {shown(info.user or 'root')}: running "
                     f"{len(staged)} case(s) in {spec.run_mode.value} mode")
            outcome = evaluate(executor, image_id=info.image_id, cases=staged, spec=spec,
                               max_voxels=get_settings().max_case_voxels,
                               work_dir=work / "sandbox")
        except SandboxError as exc:
            fail(f"{exc.message} [{exc.code}]")
    if as_json:
        print(json.dumps({"image_id": info.image_id, "summary": outcome.summary(),
                          "cases": [{"case_id": c.case_id, "status": c.status,
                                     "category": c.category, "message": c.message,
                                     "metrics": c.metrics, "flags": list(c.flags)}
                                    for c in outcome.cases],
                          "logs": outcome.organizer_log}, allow_nan=False))
        return
    table = Table(title=f"{archive.name} on {len(outcome.cases)} case(s)")
    for col in ("case", "status", "Dice", "lesion F1", "|ΔV| mL", "note"):
        table.add_column(col)
    for c in outcome.cases:
        m = c.metrics
        table.add_row(shown(c.case_id), c.status, _fmt(m.get("dice")), _fmt(m.get("lesion_f1")),
                      _fmt(m.get("abs_volume_diff_ml")), shown(c.message or ", ".join(c.flags)))
    out().print(table)
    print_text(log_tail(outcome.organizer_log, LOG_TAIL_CHARS))


LOG_TAIL_CHARS = 4000


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
