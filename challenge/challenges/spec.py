"""The challenge spec (``segarena challenge create --spec FILE``, the ``/organize/new`` page),
validated before anything is created: pure parsing, no database.

A YAML mapping with the challenge's fields and a list of phases; each phase's ``config`` is a
``challenge.phases.config.PhaseConfigSpec``. See ``examples/challenge.yaml`` for every field.
Errors are reported as ``file:line: field.path: message`` using the YAML node positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challenge.core.bounds import UtcDatetime
from challenge.core.text import DatasetName, Description, Slug, Title
from challenge.phases.config import PhaseConfigSpec

Audience = Literal["public", "participants", "organizers"]


class PhaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    description: Description = ""
    opens_at: UtcDatetime
    closes_at: UtcDatetime
    visibility: Audience = "public"
    leaderboard_visibility: Audience = "public"
    hide_scores_until_close: bool = False
    parent: Slug | None = Field(default=None, description="slug of an earlier phase of this file")
    dataset: DatasetName | None = None
    config: PhaseConfigSpec = Field(default_factory=lambda: PhaseConfigSpec.model_validate({}))

    def create_body(self, dataset_id: int | None) -> dict[str, Any]:
        """The ``PhaseCreate`` JSON body of ``POST /challenges/{slug}/phases``."""
        body = self.model_dump(mode="json", exclude={"parent", "dataset"})
        body["parent_phase_slug"] = self.parent
        body["dataset_id"] = dataset_id
        return body


class ChallengeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    description: Description = ""
    published: bool = False
    phases: list[PhaseSpec] = Field(min_length=1)


@dataclass
class SpecProblem:
    loc: tuple[str | int, ...]
    message: str
    line: int | None

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        field = _dotted(self.loc)
        return f"{where}: {field}: {self.message}" if field else f"{where}: {self.message}"


class SpecError(Exception):
    def __init__(self, source: str, problems: list[SpecProblem]) -> None:
        super().__init__("; ".join(p.format(source) for p in problems))
        self.source = source
        self.problems = problems

    def lines(self) -> list[str]:
        return [p.format(self.source) for p in self.problems]


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(root: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """1-based line of the deepest YAML node on ``loc`` (the parent when a field is missing)."""
    node = root
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)),
                         None)
            if child is None:
                # Point at the key itself when the value is what is wrong (e.g. unknown field).
                key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)),
                           None)
                child = key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1 if node is not None else None


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _cross_checks(spec: ChallengeSpec) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for i, phase in enumerate(spec.phases):
        if phase.slug in seen:
            problems.append((("phases", i, "slug"), f"phase slug {phase.slug!r} repeats"))
        if phase.closes_at <= phase.opens_at:
            problems.append((("phases", i, "closes_at"), "closes_at must be after opens_at"))
        if phase.parent is not None and phase.parent not in seen:
            problems.append((("phases", i, "parent"), f"parent {phase.parent!r} must be the "
                             "slug of a phase listed before this one"))
        seen.add(phase.slug)
    return problems


def load_spec(path: Path) -> ChallengeSpec:
    """Read and validate a spec file; raises :class:`SpecError` listing every problem."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(source, [SpecProblem((), f"cannot read: {exc.strerror}", None)]) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(source, [SpecProblem((), "not UTF-8 text", None)]) from exc
    return parse_spec(text, source)


def parse_spec(text: str, source: str) -> ChallengeSpec:
    """Validate the spec ``text``; ``source`` names it in messages (a path, or e.g. "spec").

    Raises :class:`SpecError` listing every problem with its 1-based line (``None`` when no
    line applies). A NUL or another control character other than tab/newline/CR is refused
    before YAML sees it (with the line of the first one)."""
    bad = next((i for i, ch in enumerate(text)
                if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f"), None)
    if bad is not None:
        raise SpecError(source, [SpecProblem((), "control characters (e.g. NUL) are not "
                                             "allowed in a spec", text.count("\n", 0, bad) + 1)])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, [SpecProblem((), f"not valid YAML: {problem}",
                                             mark.line + 1 if mark else None)]) from exc
    if not isinstance(data, dict):
        raise SpecError(source, [SpecProblem((), "the spec must be a YAML mapping with slug, "
                                             "title and phases", 1)])
    try:
        spec = ChallengeSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, [
            SpecProblem(tuple(e["loc"]), _clean(e["msg"]), _line_of(root, tuple(e["loc"])))
            for e in exc.errors()]) from exc
    problems = _cross_checks(spec)
    if problems:
        raise SpecError(source, [SpecProblem(loc, msg, _line_of(root, loc))
                                 for loc, msg in problems])
    return spec
