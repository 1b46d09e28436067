"""Races on unique names, answered 409 with a stable code: the one table of such constraints.

Services check a name before they insert it, but two requests can both pass the check; the
database's unique constraint then refuses the second insert. :func:`unique_conflicts` turns
that refusal into the same :class:`Conflict` the check raises, for the constraints listed in
:data:`CONFLICTS` only: any other integrity error (a foreign key, a NOT NULL) is a bug and
stays one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from challenge.core.db import Base
from challenge.core.errors import Conflict

CONFLICTS: dict[str, tuple[str, str]] = {
    "uq_users_username": ("username_taken", "that username is taken"),
    "ix_users_name_key": ("username_taken", "that username, or one that differs from it only "
                          "in case or look-alike characters, is taken"),
    "uq_challenges_slug": ("slug_taken", "a challenge with that slug exists already"),
    "uq_phases_challenge_id_slug": ("slug_taken", "this challenge has a phase with that slug "
                                    "already"),
    "uq_phase_configs_phase_id_version": ("config_changed", "the phase's configuration was "
                                          "changed by someone else meanwhile; reload it and "
                                          "apply your change again"),
    "uq_datasets_challenge_id_name": ("dataset_exists", "this challenge has a dataset of that "
                                      "name already"),
    "uq_teams_challenge_id_name": ("team_name_taken", "a team of that name exists in this "
                                   "challenge"),
    "ix_teams_challenge_id_name_skeleton": ("team_name_taken", "a team whose name looks the "
                                            "same exists in this challenge"),
    "uq_team_members_challenge_id_user_id": ("already_in_team", "you are in a team of this "
                                             "challenge already"),
    "uq_challenge_organizers_challenge_id_user_id": ("already_organizer", "that account "
                                                     "organizes this challenge already"),
}

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


@cache
def _constraints_by_columns() -> dict[str, str]:
    """SQLite names no constraint, only ``table.column, ...``: map those lists to the names
    of the unique constraints and unique indexes of the models."""
    by_columns = {}
    for table in Base.metadata.tables.values():
        uniques: list[UniqueConstraint | Index] = [
            c for c in table.constraints if isinstance(c, UniqueConstraint)]
        uniques += [i for i in table.indexes if i.unique]
        for unique in uniques:
            columns = ", ".join(f"{table.name}.{c.name}" for c in unique.columns)
            by_columns[columns] = str(unique.name)
    return by_columns


def constraint_name(exc: IntegrityError) -> str | None:
    """The name of the unique constraint ``exc`` violated, on PostgreSQL or SQLite."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None)
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    return _constraints_by_columns().get(match.group(1).strip()) if match else None


@contextmanager
def unique_conflicts(db: Session) -> Iterator[None]:
    """Run a flush or commit; a violation of a constraint in :data:`CONFLICTS` rolls the
    session back and raises that constraint's 409 :class:`Conflict`."""
    try:
        yield
    except IntegrityError as exc:
        known = CONFLICTS.get(constraint_name(exc) or "")
        if known is None:
            raise
        db.rollback()
        code, message = known
        raise Conflict(message, code=code) from exc
