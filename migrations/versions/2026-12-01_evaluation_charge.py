"""evaluation charge: which evaluation holds its submission's quota charge, and when it first
scored a case; an index to count a phase's submissions by submitter (DESIGN section 8)

Existing rows: the first evaluation of each submission (the one created with the upload) holds
the charge; an evaluation that stored a case other than ``cancelled`` counts as scored from its
start.

Plain ``ADD COLUMN`` / ``DROP COLUMN`` on both databases: a SQLite batch copy of
``evaluations`` would drop the table with foreign keys on and cascade into ``case_results``.

Revision ID: e0690769a12f
Revises: 80e588fd01a3
Create Date: 2026-12-01 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import challenge.core.db

revision: str = 'e0690769a12f'
down_revision: str | None = '80e588fd01a3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

evaluations = sa.table('evaluations', sa.column('id', sa.Integer),
                       sa.column('submission_id', sa.Integer),
                       sa.column('holds_charge', sa.Boolean),
                       sa.column('first_scored_at', challenge.core.db.UTCDateTime(timezone=True)),
                       sa.column('started_at', challenge.core.db.UTCDateTime(timezone=True)),
                       sa.column('queued_at', challenge.core.db.UTCDateTime(timezone=True)))
case_results = sa.table('case_results', sa.column('evaluation_id', sa.Integer),
                        sa.column('category', sa.String))


def upgrade() -> None:
    # Quotas follow people: count a phase's submissions by submitter as fast as by team.
    op.create_index('ix_submissions_quota_submitter', 'submissions',
                    ['phase_id', 'submitter_id', 'created_at'], unique=False)
    op.add_column('evaluations', sa.Column('holds_charge', sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.add_column('evaluations', sa.Column(
        'first_scored_at', challenge.core.db.UTCDateTime(timezone=True), nullable=True))
    first = sa.select(sa.func.min(evaluations.c.id)).group_by(evaluations.c.submission_id)
    op.execute(evaluations.update().where(evaluations.c.id.in_(first))
               .values(holds_charge=sa.true()))
    ran = sa.exists().where(case_results.c.evaluation_id == evaluations.c.id,
                            sa.or_(case_results.c.category.is_(None),
                                   case_results.c.category != 'cancelled'))
    op.execute(evaluations.update().where(ran).values(
        first_scored_at=sa.func.coalesce(evaluations.c.started_at, evaluations.c.queued_at)))


def downgrade() -> None:
    op.drop_index('ix_submissions_quota_submitter', table_name='submissions')
    op.execute('ALTER TABLE evaluations DROP COLUMN first_scored_at')
    op.execute('ALTER TABLE evaluations DROP COLUMN holds_charge')
