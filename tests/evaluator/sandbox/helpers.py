"""Constants and small helpers shared by the sandbox tests (imported as a module,
so test files do not import ``conftest``)."""

from __future__ import annotations

import json
from pathlib import Path

from evaluator.base_image import local_base_image
from evaluator.sandbox.base import Limits, RunResult
from tests.docker_scope import run_tag

IMAGES = Path(__file__).parent / "images"
BASE_IMAGE = local_base_image()
TAG_PREFIX = "segarena-test-sandbox"
CASE_IDS = ("case-a", "case-b", "case-c")
SHAPE = (32, 32, 20)
MiB = 1024 * 1024

#: Small limits so hostile tests end fast on a 2-core machine.
TEST_LIMITS = Limits(
    wall_time_per_case_s=30,
    wall_time_per_submission_s=120,
    memory_bytes=256 * MiB,
    cpus=1.0,
    pids=64,
    output_bytes=1 * MiB,
    tmp_bytes=8 * MiB,
    gpu=False,
    open_files=256,
    log_bytes=64 * 1024,
)


def image_tag(name: str) -> str:
    """The tag the ``build_image`` fixture gives test image ``name`` in this run."""
    return run_tag(f"{TAG_PREFIX}/{name}")


def mounts_under(path: Path) -> list[str]:
    """Mount points (of any filesystem) at or below ``path`` on the host."""
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


def stdout_json(result: RunResult, case_id: str) -> dict:
    """The last stdout line of the container that ran ``case_id``, parsed as JSON."""
    container = result.cases[case_id].container
    assert container is not None, f"{case_id} never ran"
    lines = container.stdout_tail.strip().splitlines()
    assert lines, f"no stdout; stderr: {container.stderr_tail[-2000:]}"
    return json.loads(lines[-1])
