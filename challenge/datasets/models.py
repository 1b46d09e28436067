from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.core.db import Base, utcnow


class Dataset(Base):
    """A hidden test set: input channels and a reference mask per case, stored under
    ``<storage_root>/datasets/<storage_key>/{inputs/<case>/<channel>.nii.gz,references/<case>.nii.gz}``.

    ``checksum`` is the SHA-256 over the sorted per-case checksums; it is published with every
    leaderboard so readers know which data a ranking was computed on. Bytes are never served.
    """

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    channels: Mapped[list[str]] = mapped_column(JSON)
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)  # no folder if manifest
    checksum: Mapped[str] = mapped_column(String(64))
    n_cases: Mapped[int]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: Registered by manifest only (``challenge.datasets.manifest``): no file of it is stored
    #: here; the phase's evaluation site holds the cases (``challenge.sites``).
    manifest_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Rater names (sorted) when every case holds ``references/<case>/<rater>.nii.gz``;
    #: empty (or null in rows older than raters) for one reference per case.
    raters: Mapped[list[str] | None] = mapped_column(JSON, default=list)

    cases: Mapped[list[DatasetCase]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="DatasetCase.case_id"
    )


class DatasetCase(Base):
    __tablename__ = "dataset_cases"
    __table_args__ = (UniqueConstraint("dataset_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(64))
    input_checksums: Mapped[dict[str, str]] = mapped_column(JSON)
    reference_checksum: Mapped[str] = mapped_column(String(64))
    shape: Mapped[list[int]] = mapped_column(JSON)
    #: The 4x4 voxel-to-world affine of the case's grid (manifest datasets; None for uploads).
    affine: Mapped[list[list[float]] | None] = mapped_column(JSON)
    #: SHA-256 of each rater's mask by rater name; ``reference_checksum`` is "" when a case
    #: with raters has no given consensus.
    rater_checksums: Mapped[dict[str, str] | None] = mapped_column(JSON, default=dict)

    dataset: Mapped[Dataset] = relationship(back_populates="cases")
