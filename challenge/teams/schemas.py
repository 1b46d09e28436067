from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from challenge.accounts.schemas import USERNAME


class TeamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")


class TeamJoin(BaseModel):
    invite_code: str = Field(min_length=1, max_length=64)


class TeamPublic(BaseModel):
    id: int
    name: str
    challenge_slug: str
    created_at: datetime
    n_members: int


class TeamPrivate(TeamPublic):
    """What members and organizers see: the members and the code that lets others join."""

    members: list[str]
    invite_code: str


class TeamMemberMove(BaseModel):
    """Organizers: the user to put in the team (moved out of their current team, if any)."""

    username: str = Field(pattern=USERNAME, description="2-64 characters: letters, digits, _ . -")
