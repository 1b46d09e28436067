"""A team's log tail: the end of what its container itself printed (DESIGN section 3).

The stored ``Evaluation.organizer_log`` (``evaluator.pipeline.organizer_log``) mixes platform
lines (``== cases <ids>: exit=... timed_out=... oom=...``, the ``-- stdout --`` / ``-- stderr
--`` markers, ``[earlier log output truncated]``, a platform fault's traceback) with the
container's own output, every line of which the worker prefixed with
``evaluator.pipeline.CONTAINER_PREFIX`` (a container cannot write a line without it: its
output is split at every line boundary, CR included, before prefixing). :func:`team_tail`
keeps only the prefixed lines, without the prefix, so no platform line (hidden case ids,
durations, a platform error's detail) reaches a team.

Who may see a tail is ``challenge.visibility`` (``ResultView.log_tail``), not this module.
Tails are independent of score hiding: the container never sees a reference, so nothing it
prints can be a score or a reference-derived value.
"""

from __future__ import annotations

from challenge.core.text import strip_forbidden
from evaluator.pipeline import CONTAINER_PREFIX

LOG_TAIL_CHARS = 4000
"""At most this many characters (Unicode code points, not bytes) of a tail: the last ones."""


def team_tail(organizer_log: str | None, max_chars: int = LOG_TAIL_CHARS) -> str:
    """The last ``max_chars`` characters of the container's own output in ``organizer_log``
    (stdout and stderr of every container of the run, in the stored order, one ``\\n`` after
    each line); ``""`` when there is none (no log yet, a platform fault, a silent container).

    Sanitized: characters ``challenge.core.text`` refuses in free text are removed (NUL and
    the other C0/C1 controls except tab and newline, CR too, lone surrogates, bidi controls);
    U+FFFD (from the capture's replacement of invalid UTF-8) is kept. The result never holds
    NUL, so it can be stored in PostgreSQL. Lines are read from the end, so the work is
    bounded by the tail, not by the log (up to ``ORGANIZER_LOG_CAP``)."""
    if not organizer_log or max_chars <= 0:
        return ""
    kept: list[str] = []
    size = 0
    for line in reversed(organizer_log.split("\n")):
        if not line.startswith(CONTAINER_PREFIX):
            continue
        clean = strip_forbidden(line[len(CONTAINER_PREFIX):], multiline=True)
        clean = clean.replace("\r", "") + "\n"
        kept.append(clean)
        size += len(clean)
        if size >= max_chars:
            break
    return "".join(reversed(kept))[-max_chars:]
