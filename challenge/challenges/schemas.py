from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

SLUG = r"^[a-z0-9][a-z0-9-]{1,63}$"


class ChallengeCreate(BaseModel):
    slug: str = Field(pattern=SLUG, description="URL name: lowercase letters, digits and -")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20000)
    is_published: bool = False


class ChallengeUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
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
    username: str = Field(min_length=1, max_length=64)
