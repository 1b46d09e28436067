from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from challenge.core import skeleton
from challenge.core.db import Base, utcnow


class Role(enum.StrEnum):
    admin = "admin"
    organizer = "organizer"
    participant = "participant"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_name_key", "name_key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # skeleton(username), kept by _set_name_key: unique, so case variants and look-alikes
    # ("Bob", "bob", "B0b") cannot both exist, even when created at the same moment.
    name_key: Mapped[str] = mapped_column(String(skeleton.MAX_LENGTH))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    is_active: Mapped[bool] = mapped_column(default=True)
    # argon2id of the password for signing in to the web app; None: API tokens (or single
    # sign-on) only.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @validates("username")
    def _set_name_key(self, _: str, username: str) -> str:
        self.name_key = skeleton.skeleton(username)
        return username

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100), default="default")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")
