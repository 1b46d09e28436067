"""A challenge and its phases from a YAML spec pasted or uploaded on ``/organize/new``: the
CLI's parser (``challenge.challenges.spec``) and the API's services, in the CLI's order
(challenge unpublished, every phase, then publish when the spec says so)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.challenges import service as challenges
from challenge.challenges.models import Challenge
from challenge.challenges.schemas import ChallengeCreate, ChallengeUpdate
from challenge.challenges.spec import ChallengeSpec, SpecError, SpecProblem, parse_spec
from challenge.core.errors import DomainError
from challenge.phases import service as phases
from challenge.phases.schemas import PhaseCreate

MAX_SPEC_BYTES = 256 * 1024
"""The largest spec accepted, pasted or uploaded (bytes of UTF-8)."""
SOURCE = "spec"
"""How the page's error lines name the spec (the CLI names the file)."""


def spec_from(pasted: str, uploaded: bytes | None) -> tuple[str, ChallengeSpec]:
    """The spec text (the uploaded file when one was chosen, else the pasted text) and the
    spec it validates to. ``SpecError`` for an empty, oversized (> ``MAX_SPEC_BYTES``),
    non-UTF-8 or binary text, and for every problem ``parse_spec`` finds."""
    if uploaded:
        if len(uploaded) > MAX_SPEC_BYTES:
            raise _refused(f"the file is larger than {MAX_SPEC_BYTES // 1024} KiB")
        try:
            text = uploaded.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _refused("the file is not UTF-8 text (is it a YAML file?)") from exc
    else:
        text = pasted.replace("\r\n", "\n")
        if len(text.encode()) > MAX_SPEC_BYTES:
            raise _refused(f"the spec is longer than {MAX_SPEC_BYTES // 1024} KiB")
    if not text.strip():
        raise _refused("paste a spec or choose a file")
    return text, parse_spec(text, SOURCE)


def _refused(message: str) -> SpecError:
    return SpecError(SOURCE, [SpecProblem((), message, None)])


@dataclass
class Created:
    """What ``create_from_spec`` made: the challenge, the phase slugs created, and the
    problem that stopped it part way (None when every phase exists)."""

    challenge: Challenge
    phases: list[str] = field(default_factory=list)
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)


def create_from_spec(*, db: Session, user: User, spec: ChallengeSpec) -> Created:
    """Create the challenge (``challenges.create``: its rules and refusals), then each phase
    in spec order (``phases.create``), then publish when ``spec.published``. A new challenge
    has no dataset yet, so a phase's ``dataset`` is left to attach after uploading (a note
    says so). A refused phase stops the run: what exists stays, and ``stopped`` says why."""
    challenge = challenges.create(db=db, user=user, data=ChallengeCreate(
        slug=spec.slug, title=spec.title, description=spec.description, is_published=False))
    created = Created(challenge)
    for phase in spec.phases:
        try:
            phases.create(db=db, user=user, slug=spec.slug,
                          data=PhaseCreate.model_validate(phase.create_body(None)))
        except DomainError as exc:
            db.rollback()
            created.stopped = f"phase {phase.slug!r}: {exc.message}"
            return created
        created.phases.append(phase.slug)
        if phase.dataset:
            created.notes.append(f"phase {phase.slug}: upload dataset {phase.dataset!r} on "
                                 "the datasets page, then attach it on the phase's edit page")
    if spec.published:
        challenges.update(db=db, user=user, slug=spec.slug,
                          data=ChallengeUpdate(is_published=True))
    return created
