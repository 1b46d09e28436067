from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from challenge.accounts.models import Role

USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME, description="2-64 characters: letters, digits, _ . -")
    email: str | None = Field(default=None, max_length=254)


class AdminUserCreate(UserCreate):
    role: Role = Role.organizer


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: Role
    created_at: datetime


class TokenCreate(BaseModel):
    name: str = Field(default="default", min_length=1, max_length=100)


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    public_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    """Returned once: ``token`` is never shown again (only its hash is stored)."""

    user: UserPublic
    token_id: int
    token: str
