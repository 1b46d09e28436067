"""Scoring with several raters per case (DESIGN section 10): the ranked reference, the
submission's metrics against each rater, and each rater's human-baseline metrics.

Pure apart from reading the case's masks: no database, web or docker. The voting rules are
``evaluator.consensus``; the metrics are ``evaluator.metrics.evaluate_case``, called exactly as
for the ranked reference, so a rater's row is what the submission would score if that rater
alone were the reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from evaluator import consensus
from evaluator import io as nifti
from evaluator.metrics import MetricsConfig, evaluate_case
from evaluator.spec import ReferenceSpec

FlatMetrics = dict[str, float | int | None]


@dataclass(frozen=True)
class CaseReferences:
    """A case's masks, read once: ``ranked`` is the reference ranked metrics use (a read-only
    boolean :class:`~evaluator.io.Mask` whose grid outputs must match); ``raters`` maps each
    rater's name to its boolean mask (empty for a single-reference dataset)."""

    ranked: nifti.Mask
    raters: dict[str, np.ndarray] = field(default_factory=dict)


def load(reference: Path, raters: Mapping[str, Path], spec: ReferenceSpec,
         max_voxels: int, built: Path | None = None) -> CaseReferences:
    """Read a case's masks and build its ranked reference as ``spec`` says.

    ``reference`` is the dataset's consensus file (it may not exist when the dataset has
    raters only); ``raters`` maps rater names to their mask files; ``built``, when given, is
    this case's ranked reference under ``spec`` as :func:`write_ranked` stored it, read
    instead of voting again. Without raters the given file is the reference whatever ``spec``
    says (a single-reference dataset). Raises ``NiftiError`` for an unreadable mask and
    ``ValueError`` when the rule needs a mask the case lacks (ingest and the phase config
    refuse such datasets first).
    """
    masks = {name: nifti.load_mask(path, max_voxels=max_voxels) for name, path in raters.items()}
    given = nifti.load_mask(reference, max_voxels=max_voxels) if reference.exists() else None
    if not masks:
        if given is None:
            raise ValueError("the case has no reference mask")
        return CaseReferences(given)
    arrays = {name: m.array for name, m in masks.items()}
    grid = masks[min(masks)]
    if built is not None and spec.mode != "consensus":
        ranked = nifti.load_mask(built, max_voxels=max_voxels, expected_shape=grid.array.shape,
                                 expected_affine=grid.affine).array
    else:
        ranked = consensus.ranked_reference(spec.mode, arrays, given.array if given else None,
                                            threshold=spec.staple_threshold,
                                            foreground=spec.staple_foreground)
        ranked.flags.writeable = False
    return CaseReferences(nifti.Mask(ranked, grid.spacing, grid.affine), arrays)


def ranked_tag(spec: ReferenceSpec) -> str:
    """A short name (16 hex digits of SHA-256) for the rule ``spec`` builds ranked references
    by: where a stored ranked reference lives, so a changed rule never reads an old one."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def write_ranked(reference: Path, raters: Mapping[str, Path], spec: ReferenceSpec,
                 max_voxels: int, dest: Path) -> None:
    """Build a case's ranked reference under ``spec`` (:func:`load`) and store it at ``dest``
    as a uint8 NIfTI on the raters' grid, atomically (a temporary file renamed), so a
    reader never sees half a file and two writers leave one whole one."""
    refs = load(reference, raters, spec, max_voxels)
    image = nib.Nifti1Image(np.asarray(refs.ranked.array, dtype=np.uint8), refs.ranked.affine)
    image.header.set_zooms(tuple(refs.ranked.spacing))
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".partial-{os.getpid()}-{threading.get_ident()}-{dest.name}")
    nib.save(image, partial)
    os.replace(partial, dest)


def against_raters(prediction: np.ndarray, refs: CaseReferences,
                   config: MetricsConfig) -> dict[str, FlatMetrics]:
    """The prediction's flat metrics (``CaseMetrics.as_flat_dict``) against each rater, by
    rater name; empty for a single-reference case."""
    spacing = refs.ranked.spacing
    return {name: evaluate_case(prediction, mask, spacing, config).as_flat_dict()
            for name, mask in sorted(refs.raters.items())}


def baseline(refs: CaseReferences, spec: ReferenceSpec,
             config: MetricsConfig) -> dict[str, FlatMetrics]:
    """The human baseline of one case: each rater's mask scored like a submission against the
    leave-one-out consensus of the other raters (``consensus.leave_one_out``), by rater name.
    Empty when the case has fewer than two raters."""
    if len(refs.raters) < 2:
        return {}
    others = consensus.leave_one_out(spec.mode, refs.raters, threshold=spec.staple_threshold,
                                     foreground=spec.staple_foreground)
    spacing = refs.ranked.spacing
    return {name: evaluate_case(refs.raters[name], others[name], spacing, config).as_flat_dict()
            for name in sorted(refs.raters)}
