from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from challenge.core.text import Description, Slug, Title, Username


class ChallengeCreate(BaseModel):
    slug: Slug = Field(description="URL name: lowercase letters, digits and -")
    title: Title
    description: Description = ""
    is_published: bool = False


class ChallengeUpdate(BaseModel):
    title: Title | None = None
    description: Description | None = None
    is_published: bool | None = None


class ChallengePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    title: str
    description: str
    is_published: bool
    created_at: datetime


class OrganizerAdd(BaseModel):
    username: Username
