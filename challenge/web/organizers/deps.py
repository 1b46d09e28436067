"""The challenge an organizer page is about, refused exactly as the API refuses it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.deps import ChallengeSlug, SessionDep
from challenge.web.deps import SignedInUser


def organized(db: Session, user: User, slug: str) -> Challenge:
    """``slug``'s challenge when ``user`` organizes it (or is an admin): ``NotFound`` when the
    user may not see it (unpublished), ``Forbidden`` when they see it but do not organize it
    (the API's ``require_visible_challenge`` then ``require_organizer``)."""
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    return challenge


def organized_challenge(slug: ChallengeSlug, db: SessionDep, user: SignedInUser) -> Challenge:
    return organized(db, user, slug)


OrganizedChallenge = Annotated[Challenge, Depends(organized_challenge)]
