"""per_case housekeeping overlaps the running container (``evaluator.sandbox.overlap``), on
the real engine: the next container is created and the previous one removed while a
container runs, yet only one container of a run ever runs at a time, each with the same
sandbox configuration, and a run leaves no container or ``/output`` mount behind, also when
it is cancelled or its callback fails."""

from __future__ import annotations

import math
import secrets
import threading
import time
from pathlib import Path

import pytest

from evaluator.sandbox.base import RunSpec
from tests.docker_scope import own_containers
from tests.evaluator.sandbox.helpers import CASE_IDS, TEST_LIMITS, mounts_under

pytestmark = pytest.mark.docker
RUN_LABEL = "org.segarena.test-overlap"


def _run(executor, build_image, cases, work_dir: Path, name: str = "baseline", **kwargs):
    token = secrets.token_hex(6)
    spec = RunSpec(image_id=build_image(name), inputs={c: cases[c] for c in CASE_IDS},
                   work_dir=work_dir, limits=TEST_LIMITS, labels={RUN_LABEL: token})
    since = time.time()
    try:
        result = executor.run(spec, **kwargs)
    finally:
        until = time.time()
    return result, token, since, until


def _events(docker_client, token: str, since: float, until: float) -> list[tuple[str, str]]:
    """(action, case id) of this run's containers, in the engine's order."""
    window = {"since": math.floor(since) - 1, "until": math.ceil(until) + 1}
    found = docker_client.events(**window, decode=True, filters={
        "type": "container", "label": f"{RUN_LABEL}={token}"})
    wanted = {"create", "start", "die", "destroy"}
    seen = sorted((e["timeNano"], e["Action"], e["Actor"]["Attributes"]["name"], e["id"])
                  for e in found if e["Action"] in wanted)
    names = {}
    for _, action, _name, cid in seen:
        if action == "create":
            names[cid] = len(names)
    return [(action, CASE_IDS[names[cid]]) for _, action, _name, cid in seen]


def test_next_container_is_created_while_one_runs_and_one_runs_at_a_time(
        executor, build_image, cases, docker_client, tmp_path):
    result, token, since, until = _run(executor, build_image, cases, tmp_path / "work")

    assert result.outputs.keys() == set(CASE_IDS)
    events = _events(docker_client, token, since, until)
    assert sorted(events) == sorted((a, c) for a in ("create", "start", "die", "destroy")
                                    for c in CASE_IDS)
    position = {event: i for i, event in enumerate(events)}
    for previous, following in zip(CASE_IDS, CASE_IDS[1:], strict=False):
        # prepared ahead: created before the previous one is removed...
        assert position["create", following] < position["destroy", previous]
        # ...but started only once the previous one has exited
        assert position["die", previous] < position["start", following]
    assert own_containers(docker_client, labels=(f"{RUN_LABEL}={token}",)) == []
    assert mounts_under(tmp_path / "work") == []


def test_prepared_containers_are_removed_when_the_run_is_cancelled(
        executor, build_image, cases, docker_client, tmp_path):
    cancel = threading.Event()

    def cancel_after_first(case) -> None:
        cancel.set()

    result, token, _since, _until = _run(executor, build_image, cases, tmp_path / "work",
                                         on_case_done=cancel_after_first, cancel_event=cancel)

    assert result.cases[CASE_IDS[0]].failure is None
    assert all(result.cases[c].container is None for c in CASE_IDS[1:])
    assert own_containers(docker_client, labels=(f"{RUN_LABEL}={token}",)) == []
    assert mounts_under(tmp_path / "work") == []


def test_a_failing_callback_leaves_no_container_or_mount(executor, build_image, cases,
                                                         docker_client, tmp_path):
    def broken(case) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        executor.run(RunSpec(image_id=build_image("baseline"),
                             inputs={c: cases[c] for c in CASE_IDS}, work_dir=tmp_path / "w",
                             limits=TEST_LIMITS, labels={RUN_LABEL: "failing-callback"}),
                     on_case_done=broken)
    assert own_containers(docker_client, labels=(f"{RUN_LABEL}=failing-callback",)) == []
    assert mounts_under(tmp_path / "w") == []
