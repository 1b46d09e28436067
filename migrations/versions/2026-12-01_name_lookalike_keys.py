"""name look-alike keys: users.name_key and teams.name_skeleton, each under a unique index

Revision ID: 9b040cd1c0c4
Revises: e0690769a12f
Create Date: 2026-12-01 09:00:00

Existing rows get ``challenge.core.skeleton.skeleton`` of their name. Rows whose key an older
row has already (look-alikes created before this rule) keep their name and get the key
``<skeleton>#<id>``, so the upgrade never fails on old data; new look-alikes of either are
refused.

No table is rebuilt: on SQLite a rebuild drops the old table, and with foreign keys on that
deletes (ON DELETE CASCADE) every token, membership and submission that points at it. So the
columns are added with ALTER TABLE (NOT NULL with an empty default on SQLite, which cannot add a
NOT NULL column without one; NOT NULL set after the backfill on PostgreSQL) and the uniqueness
is a unique index.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from challenge.core.skeleton import MAX_LENGTH, skeleton

revision: str = '9b040cd1c0c4'
down_revision: str | None = 'e0690769a12f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (("users", "name_key", "username", ("name_key",), "ix_users_name_key"),
        ("teams", "name_skeleton", "name", ("challenge_id", "name_skeleton"),
         "ix_teams_challenge_id_name_skeleton"))


def _backfill(conn: sa.Connection, table_name: str, column: str, source: str,
              scope: str | None) -> None:
    """Set ``column`` = skeleton(``source``), oldest row first; a later look-alike within the
    same ``scope`` value gets ``<skeleton>#<id>``."""
    columns = ["id", source, column] + ([scope] if scope else [])
    table = sa.table(table_name, *(sa.column(c) for c in columns))
    taken: dict[object, set[str]] = {}
    query = sa.select(table.c.id, table.c[source], table.c[scope] if scope else sa.null())
    for row_id, name, group in conn.execute(query.order_by(table.c.id)).all():
        key, seen = skeleton(name), taken.setdefault(group, set())
        if key in seen:
            suffix = f"#{row_id}"
            key = key[: MAX_LENGTH - len(suffix)] + suffix
        seen.add(key)
        conn.execute(table.update().where(table.c.id == row_id).values({column: key}))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, source, index_columns, index in KEYS:
        op.add_column(table, sa.Column(column, sa.String(length=MAX_LENGTH), nullable=not sqlite,
                                       server_default=sa.text("''") if sqlite else None))
        _backfill(op.get_bind(), table, column, source,
                  "challenge_id" if table == "teams" else None)
        if not sqlite:
            op.alter_column(table, column, existing_type=sa.String(length=MAX_LENGTH),
                            nullable=False)
        op.create_index(index, table, list(index_columns), unique=True)


def downgrade() -> None:
    for table, column, _, _, index in reversed(KEYS):
        op.drop_index(index, table_name=table)
        op.drop_column(table, column)  # ALTER TABLE DROP COLUMN (SQLite >= 3.35), no rebuild
