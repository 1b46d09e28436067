"""web sessions: signed-in browsers, single sign-on identities, account passwords

Revision ID: 7a3f0c12e9d4
Revises: 5d1e7a3c2b90
Create Date: 2026-12-01 12:35:26

``users.password_hash`` is added with ALTER TABLE, never a table rebuild: on SQLite a rebuild
of ``users`` would cascade deletes to every row that references it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import challenge.core.db

revision: str = '7a3f0c12e9d4'
down_revision: str | None = '5d1e7a3c2b90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('oidc_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', challenge.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oidc_identities_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_identities')),
    sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_oidc_identities_issuer_subject'))
    )
    with op.batch_alter_table('oidc_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_identities_user_id'), ['user_id'], unique=False)

    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('created_at', challenge.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', challenge.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', challenge.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', challenge.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('public_id', name=op.f('uq_web_sessions_public_id'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.add_column('users', sa.Column('password_hash', sa.String(length=255), nullable=True))



def downgrade() -> None:
    # ALTER TABLE DROP COLUMN, never a rebuild of ``users`` (SQLite 3.35+ has it; a rebuild
    # would trip the foreign keys of every table that references users).
    op.drop_column('users', 'password_hash')

    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))

    op.drop_table('web_sessions')
    with op.batch_alter_table('oidc_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_identities_user_id'))

    op.drop_table('oidc_identities')
