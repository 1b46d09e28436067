from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from challenge.core.text import InviteCode, TeamName, Username


class TeamCreate(BaseModel):
    name: TeamName = Field(description="1-100 characters; refused when it looks like the name "
                           "of a team of the challenge (case, look-alike letters and digits)")


class TeamJoin(BaseModel):
    invite_code: InviteCode


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

    username: Username
