from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from challenge.accounts.models import Role
from challenge.core.text import USERNAME, Email, Password, TokenName, Username


class UserCreate(BaseModel):
    username: Username = Field(description=f"{USERNAME.description}; unique whatever the case "
                               "and look-alike characters (0/O, 1/l/I, Cyrillic or Greek)")
    email: Email | None = None


class AdminUserCreate(UserCreate):
    role: Role = Role.organizer


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: Role
    created_at: datetime


class PasswordSet(BaseModel):
    password: Password = Field(description="the web sign-in password: 10-256 characters, "
                               "no control character but tab")


class TokenCreate(BaseModel):
    name: TokenName = "default"


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
