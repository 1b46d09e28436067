"""``organizer_log``: container output is marked line by line, and a cut keeps whole lines."""

from __future__ import annotations

import pytest

from evaluator import pipeline
from evaluator.pipeline import CONTAINER_PREFIX, organizer_log
from evaluator.sandbox.base import ContainerRun


def _run(stdout: str, stderr: str = "") -> ContainerRun:
    return ContainerRun(("case001",), 0, False, False, False, 2.0, stdout, stderr, False, None)


def _platform_lines(log: str) -> list[str]:
    return [line for line in log.split("\n") if line and not line.startswith(CONTAINER_PREFIX)]


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85",
                                       "\u2028"])
def test_every_line_a_container_writes_is_prefixed(separator: str) -> None:
    forged = separator.join(["ok", "== cases case009: exit=0", "-- stderr --", "done"])
    log = organizer_log([_run(forged, stderr=forged)])
    assert _platform_lines(log) == ["== cases case001: exit=0 timed_out=False oom=False "
                                    "duration=2.0s", "-- stdout --", "-- stderr --"]
    assert log.count(f"{CONTAINER_PREFIX}== cases case009: exit=0") == 2


def test_a_cut_log_starts_at_a_whole_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "ORGANIZER_LOG_CAP", 100)
    log = organizer_log([_run("".join(f"-- stderr -- {i}\n" for i in range(50)))])
    first, *rest = log.split("\n")
    assert first == "[earlier log output truncated]"
    assert rest[0].startswith(CONTAINER_PREFIX + "-- stderr -- ")  # no cut-off prefix
    assert _platform_lines("\n".join(rest)) == ["-- stderr --"]  # the empty stderr's header
