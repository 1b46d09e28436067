"""evaluation sites: sites registered per phase (hashed tokens), manifest-only datasets with
each case's affine, and the site and site worker version that ran an evaluation

Plain ``ADD COLUMN`` / ``DROP COLUMN`` on both databases: a SQLite batch copy of
``evaluations`` or ``datasets`` would drop the table with foreign keys on and cascade into
their children. ``evaluations.site_id`` is a plain integer (sites are never deleted).

Revision ID: 5e7c2a91d4b0
Revises: 9b040cd1c0c4
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import challenge.core.db

revision: str = '5e7c2a91d4b0'
down_revision: str | None = '9b040cd1c0c4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'evaluation_sites',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('phase_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('public_id', sa.String(length=16), nullable=False),
        sa.Column('secret_hash', sa.String(length=255), nullable=False),
        sa.Column('created_at', challenge.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('revoked_at', challenge.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_seen_at', challenge.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('worker_version', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_evaluation_sites_created_by_id_users')),
        sa.ForeignKeyConstraint(['phase_id'], ['phases.id'], ondelete='CASCADE',
                                name=op.f('fk_evaluation_sites_phase_id_phases')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_sites')),
        sa.UniqueConstraint('public_id', name=op.f('uq_evaluation_sites_public_id')),
    )
    op.create_index(op.f('ix_evaluation_sites_phase_id'), 'evaluation_sites', ['phase_id'],
                    unique=False)
    op.add_column('datasets', sa.Column('manifest_only', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column('dataset_cases', sa.Column('affine', sa.JSON(), nullable=True))
    op.add_column('evaluations', sa.Column('site_id', sa.Integer(), nullable=True))
    op.add_column('evaluations', sa.Column('worker_version', sa.String(length=32),
                                           nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE evaluations DROP COLUMN worker_version')
    op.execute('ALTER TABLE evaluations DROP COLUMN site_id')
    op.execute('ALTER TABLE dataset_cases DROP COLUMN affine')
    op.execute('ALTER TABLE datasets DROP COLUMN manifest_only')
    op.drop_index(op.f('ix_evaluation_sites_phase_id'), table_name='evaluation_sites')
    op.drop_table('evaluation_sites')
