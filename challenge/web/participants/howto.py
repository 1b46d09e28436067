"""``/challenges/{slug}/phases/{phase_slug}/how-to``: how to build, test and submit an
algorithm for one phase, every number taken from the phase's current config version (as
public as the phase itself: whoever may see the phase may read it)."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from challenge.challenges.models import Challenge
from challenge.core.deps import ChallengeSlug, PhaseSlug, SessionDep
from challenge.phases import service as phases
from challenge.phases.config import PhaseConfigSpec
from challenge.web import render
from challenge.web.deps import PageUser
from challenge.web.render import PageRoute
from evaluator.base_image import local_base_image

router = APIRouter(route_class=PageRoute)
#: The local base image algorithms build on (the same variable the CLI's demo reads).
BASE_IMAGE = local_base_image()


def phase_config_yaml(spec: PhaseConfigSpec) -> str:
    """The run-and-score part of the config as YAML, for ``test-container --phase-config``."""
    return yaml.safe_dump(spec.evaluation().model_dump(mode="json"), sort_keys=False)


def _limits(spec: PhaseConfigSpec) -> list[tuple[str, str]]:
    """(what, value with its unit) of each container limit of ``spec``."""
    lim = spec.limits
    per_case = spec.run_mode == "per_case"
    return [
        ("Run mode", "one container per case (only that case mounted)" if per_case
         else "one container for all cases (every case mounted)"),
        ("Wall time per case", f"{lim.wall_time_per_case_s:g} s" if per_case
         else "not applicable (batch mode: the submission's wall time bounds the run)"),
        ("Wall time per submission", f"{lim.wall_time_per_submission_s:g} s"),
        ("Memory (memory + swap, /tmp included)", f"{lim.memory_mb} MiB"),
        ("CPUs", f"{lim.cpus:g}"),
        ("Processes and threads", str(lim.pids)),
        ("Size of each output file", f"{lim.output_mb} MiB"),
        ("/tmp", f"{lim.tmp_mb} MiB (in memory)"),
        ("GPU", "one GPU" if lim.gpu else "none"),
        ("Network", "none"),
        ("User", f"the image runs as uid {spec.sandbox.run_as_uid}" if spec.sandbox.run_as_uid
         else "a non-root USER set in the image (root images are refused)"),
    ]


@router.get("/challenges/{slug}/phases/{phase_slug}/how-to", response_class=HTMLResponse)
def how_to(slug: ChallengeSlug, phase_slug: PhaseSlug, request: Request, db: SessionDep,
           user: PageUser) -> HTMLResponse:
    phase = phases.get_by_slugs(db=db, user=user, challenge_slug=slug, phase_slug=phase_slug)
    challenge = db.get(Challenge, phase.challenge_id)
    assert challenge is not None
    spec = PhaseConfigSpec.model_validate(phases.current_config(db, phase).config)
    context: dict[str, Any] = {
        "title": f"How to take part in {phase.title}", "challenge": challenge, "phase": phase,
        "status": phases.status(phase), "spec": spec, "limits": _limits(spec),
        "inputs": [f"{c}.nii.gz" for c in spec.channels], "base_image": BASE_IMAGE,
        "config_yaml": phase_config_yaml(spec), "max_bytes":
            request.app.state.settings.max_submission_bytes}
    return render.page(request, "participant/howto.html", context)
