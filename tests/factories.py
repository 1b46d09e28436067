"""Test data built through the real services (so audit rows and invariants hold)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import nibabel as nib
import numpy as np
from sqlalchemy.orm import Session

from challenge.accounts import service as accounts
from challenge.accounts.models import Role, User  # noqa: F401  (re-exported for tests)
from challenge.challenges import service as challenges
from challenge.challenges.schemas import ChallengeCreate
from challenge.core.db import utcnow
from challenge.phases import service as phases
from challenge.phases.schemas import PhaseCreate


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


def account(db: Session, username: str, role: Role = Role.participant,
            admin: User | None = None) -> Account:
    user, _, token = accounts.create_user(db=db, actor=admin, username=username, email=None,
                                          role=role)
    return Account(user, token)


def admin_account(db: Session, username: str = "root-admin") -> Account:
    created = accounts.ensure_admin(db=db, username=username)
    assert created is not None
    return Account(*created)


def challenge(db: Session, organizer: User, slug: str, published: bool = True):
    return challenges.create(db=db, user=organizer, data=ChallengeCreate(
        slug=slug, title=slug.replace("-", " ").title(), is_published=published))


def phase(db: Session, organizer: User, challenge_slug: str, slug: str = "test",
          **overrides: object):
    now = utcnow()
    data = {"slug": slug, "title": slug.title(), "opens_at": now - timedelta(days=1),
            "closes_at": now + timedelta(days=30), **overrides}
    return phases.create(db=db, user=organizer, slug=challenge_slug,
                         data=PhaseCreate.model_validate(data))


def nifti_bytes(array: np.ndarray, zooms: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> bytes:
    affine = np.diag([*zooms, 1.0])
    img = nib.Nifti1Image(array, affine)
    img.header.set_zooms(zooms)
    return gzip.compress(img.to_bytes(), mtime=0)


@dataclass
class TinyDataset:
    cases: dict[str, dict[str, bytes]] = field(default_factory=dict)
    references: dict[str, bytes] = field(default_factory=dict)
    #: case -> rater -> mask bytes (``references/<case>/<rater>.nii.gz``)
    raters: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def tar_bytes(self, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> bytes:  # type: ignore[assignment]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for case, channels in self.cases.items():
                for channel, data in channels.items():
                    _add(tar, f"inputs/{case}/{channel}.nii.gz", data)
            for case, data in self.references.items():
                _add(tar, f"references/{case}.nii.gz", data)
            for case, masks in self.raters.items():
                for rater, data in masks.items():
                    _add(tar, f"references/{case}/{rater}.nii.gz", data)
            for info, data in extra:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()

    def write_dir(self, root: Path) -> Path:
        for case, channels in self.cases.items():
            for channel, data in channels.items():
                path = root / "inputs" / case / f"{channel}.nii.gz"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        for case, data in self.references.items():
            path = root / "references" / f"{case}.nii.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for case, masks in self.raters.items():
            for rater, data in masks.items():
                path = root / "references" / case / f"{rater}.nii.gz"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        return root


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def tiny_dataset(n_cases: int = 2, shape: tuple[int, int, int] = (8, 8, 8),
                 seed: int = 0) -> TinyDataset:
    rng = np.random.default_rng(seed)
    ds = TinyDataset()
    for i in range(n_cases):
        case = f"case{i:03d}"
        flair = rng.normal(100, 10, shape).astype(np.float32)
        ref = np.zeros(shape, np.uint8)
        ref[2:4, 2:4, 2:4] = 1
        flair[ref > 0] += 80
        ds.cases[case] = {"flair": nifti_bytes(flair)}
        ds.references[case] = nifti_bytes(ref)
    return ds


def rater_masks(n_cases: int = 3, n_raters: int = 3, shape: tuple[int, int, int] = (8, 8, 8),
                seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """case -> rater -> uint8 mask: the 2x2x2 lesion of ``tiny_dataset``, each rater adding or
    dropping a few boundary voxels at random (seeded), so raters disagree a little."""
    rng = np.random.default_rng(seed + 1000)
    out: dict[str, dict[str, np.ndarray]] = {}
    for i in range(n_cases):
        masks = {}
        for r in range(n_raters):
            mask = np.zeros(shape, np.uint8)
            mask[2:4, 2:4, 2:4] = 1
            ring = np.zeros(shape, bool)
            ring[1:5, 1:5, 1:5] = True
            ring[2:4, 2:4, 2:4] = False
            flip = ring & (rng.random(shape) < 0.25)
            mask[flip] = 1
            if rng.random() < 0.5:
                mask[2, 2, 2] = 0
            masks[f"rater{r + 1}"] = mask
        out[f"case{i:03d}"] = masks
    return out


def rater_dataset(n_cases: int = 3, n_raters: int = 3, *, consensus: bool = True,
                  seed: int = 0) -> TinyDataset:
    """``tiny_dataset`` whose cases also hold ``n_raters`` rater masks (``rater_masks``);
    without ``consensus`` the cases have no ``references/<case>.nii.gz``."""
    ds = tiny_dataset(n_cases, seed=seed)
    ds.raters = {case: {r: nifti_bytes(m) for r, m in masks.items()}
                 for case, masks in rater_masks(n_cases, n_raters, seed=seed).items()}
    if not consensus:
        ds.references = {}
    return ds


def image_archive(user: str = "1000", architecture: str = "amd64", tag: str = "algo:latest",
                  salt: str = "", padding: int = 0) -> bytes:
    """A structurally valid ``docker save`` archive of a one-layer image (no engine needed).

    The layer holds one text file; the config declares ``User`` and the architecture, so upload
    checks (image count, platform, non-root user) can be tested without Docker. ``padding`` > 0
    adds a file of that many random (incompressible) bytes to the layer, for uploads that
    must span several chunks.
    """
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        _add(t, "hello.txt", f"hello {salt}\n".encode())
        if padding > 0:
            _add(t, "padding.bin", np.random.default_rng(padding).bytes(padding))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": architecture, "os": "linux",
        "config": {"User": user, "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = hashlib.sha256(layer_bytes).hexdigest() + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": [layer_name]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, config_name, config)
        _add(tar, layer_name, layer_bytes)
        _add(tar, "manifest.json", manifest)
    return buf.getvalue()


def manifest_of(dataset_dir: Path, name: str | None = None) -> dict:
    """The manifest of a dataset folder (``segarena dataset manifest``), as a JSON body;
    with ``name``, a body for ``POST /challenges/{slug}/datasets/manifest``."""
    from challenge.datasets.manifest import compute

    cases = sorted(p.name for p in (dataset_dir / "inputs").iterdir())
    channels = sorted(p.name[: -len(".nii.gz")]
                      for p in (dataset_dir / "inputs" / cases[0]).iterdir())
    body = compute(dataset_dir, case_ids=cases, channels=channels,
                   max_voxels=10**8).model_dump(mode="json")
    return {**body, "name": name} if name else body
