"""several raters: dataset rater names and checksums, per-rater case metrics, baseline rows

Revision ID: 5d1e7a3c2b90
Revises: 5e7c2a91d4b0
Create Date: 2026-12-01 10:30:00

Every new column is nullable JSON added with ALTER TABLE (no table is rebuilt: on SQLite a
rebuild would cascade deletes); null reads as "no raters" for rows older than this revision.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import challenge.core.db

revision: str = '5d1e7a3c2b90'
down_revision: str | None = '5e7c2a91d4b0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("raters", sa.JSON(), nullable=True))
    op.add_column("dataset_cases", sa.Column("rater_checksums", sa.JSON(), nullable=True))
    op.add_column("case_results", sa.Column("rater_metrics", sa.JSON(), nullable=True))
    op.create_table(
        "baseline_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("scoring_key", sa.String(length=64), nullable=False),
        sa.Column("rater", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", challenge.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"],
                                name=op.f("fk_baseline_results_dataset_id_datasets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baseline_results")),
        sa.UniqueConstraint("scoring_key", "rater", "case_id",
                            name=op.f("uq_baseline_results_scoring_key_rater_case_id")),
    )
    op.create_index(op.f("ix_baseline_results_dataset_id"), "baseline_results", ["dataset_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_baseline_results_dataset_id"), table_name="baseline_results")
    op.drop_table("baseline_results")
    op.drop_column("case_results", "rater_metrics")
    op.drop_column("dataset_cases", "rater_checksums")
    op.drop_column("datasets", "raters")
