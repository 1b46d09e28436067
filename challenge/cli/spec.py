"""The challenge spec file: the parsing and validation live in ``challenge.challenges.spec``
(the web app's ``/organize/new`` page uses the same), re-exported here for the CLI."""

from __future__ import annotations

from challenge.challenges.spec import (
    Audience,
    ChallengeSpec,
    PhaseSpec,
    SpecError,
    SpecProblem,
    load_spec,
    parse_spec,
)

__all__ = ["Audience", "ChallengeSpec", "PhaseSpec", "SpecError", "SpecProblem", "load_spec",
           "parse_spec"]
