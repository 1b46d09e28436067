"""How a phase runs a submission and scores it: the contract between the platform and the
evaluator (DESIGN sections 2-4).

One typed model, :class:`EvaluationSpec`: input channels, run mode, container limits, sandbox
relaxations and the metrics config. The phase config (``challenge.phases.config``) extends it
with quotas, ranking and display settings; a claimed job carries it validated. The executor's
:class:`~evaluator.sandbox.Limits` and :class:`~evaluator.sandbox.SandboxOptions` are derived
from it here and nowhere else.

Pure: pydantic and the evaluator only. Field units are in the names (``_s`` seconds, ``_mb``
MiB). ``evaluator.metrics`` (numpy, scipy) is imported only when a metrics config is resolved,
so reading a config stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evaluator.sandbox.base import Limits, RunMode, SandboxOptions

if TYPE_CHECKING:
    from evaluator.metrics import MetricsConfig

MiB = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContainerLimits(_Strict):
    """What one submission's containers may use. ``wall_time_per_case_s`` bounds each container
    in ``per_case`` mode, ``wall_time_per_submission_s`` the whole run (and the one container of
    ``batch`` mode); ``memory_mb`` is memory and memory+swap; ``output_mb`` caps each output
    file; ``tmp_mb`` sizes ``/tmp`` (RAM, counted in ``memory_mb``)."""

    wall_time_per_case_s: float = Field(600, gt=0, le=86400)
    wall_time_per_submission_s: float = Field(7200, gt=0, le=7 * 86400)
    memory_mb: int = Field(4096, ge=64, le=1024 * 1024, description="memory = memory+swap")
    cpus: float = Field(1.0, gt=0, le=256)
    pids: int = Field(256, ge=16, le=65536)
    output_mb: int = Field(512, ge=1, le=1024 * 1024)
    tmp_mb: int = Field(512, ge=1, le=1024 * 1024)
    gpu: bool = False


class SandboxRelaxations(_Strict):
    """Departures from the sandbox defaults; each one is written to the audit log."""

    run_as_uid: int | None = Field(
        None, ge=1, le=2**31 - 1,
        description="run images as this uid instead of refusing images whose USER is root",
    )


class ReferenceSpec(_Strict):
    """How the ranked reference of a case is built when a dataset has several raters
    (``evaluator.consensus``): ``consensus`` (the dataset's ``references/<case>.nii.gz``, which
    must exist), ``majority`` (strict majority of the raters) or ``staple`` (SimpleITK's STAPLE,
    lesion where the posterior probability is ``>= staple_threshold``; ``staple_foreground`` is
    the label STAPLE counts as lesion, 1 because masks are binarized to {0, 1} first).

    The same voting rule builds each rater's leave-one-out reference for the human baseline
    (``consensus`` mode: the strict majority of the other raters)."""

    mode: Literal["consensus", "majority", "staple"] = "consensus"
    staple_threshold: float = Field(0.5, gt=0, lt=1)
    staple_foreground: Literal[1] = 1


def channels_field() -> Any:
    """The ``channels`` field: ``["flair"]`` by default, 1 to 16 names. A function so that a
    model narrowing the names' type (the phase config) keeps the same default and bounds."""
    return Field(default_factory=lambda: ["flair"], min_length=1, max_length=16)


class EvaluationSpec(_Strict):
    """Everything that decides a submission's per-case results; changing any field of an
    opened phase means evaluating its submissions again.

    ``channels`` are the input files ``<channel>.nii.gz`` of every case, the first one giving
    the grid outputs must match; this model checks their number and that none repeats, the
    names themselves are identifiers checked where the config is written (the platform's
    ``ChannelName``). ``metrics`` is a preset name or a custom lesion-matching config
    (``evaluator.metrics.resolve_config``). ``reference`` says how the ranked reference is
    built from several raters (:class:`ReferenceSpec`; the default, ``consensus``, is the
    dataset's one reference mask per case).
    """

    channels: list[str] = channels_field()
    run_mode: RunMode = RunMode.PER_CASE
    limits: ContainerLimits = Field(default_factory=ContainerLimits)
    sandbox: SandboxRelaxations = Field(default_factory=SandboxRelaxations)
    metrics: str | dict[str, Any] = Field(
        "msseg", description="a preset (msseg, wmh, shifts, instance) or a custom "
                             "lesion-matching config"
    )
    #: Left out of the stored JSON while it is the default, so configs stored before raters
    #: existed keep their shape and their hash.
    reference: ReferenceSpec = Field(default_factory=ReferenceSpec,
                                     exclude_if=lambda value: value == ReferenceSpec())

    @field_validator("channels")
    @classmethod
    def _distinct_channels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat")
        return value

    @field_validator("metrics")
    @classmethod
    def _resolvable_metrics(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from evaluator.metrics import resolve_config

        try:
            resolve_config(value)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid metrics config: {exc}") from exc
        return value

    def metrics_config(self) -> MetricsConfig:
        """The validated metrics config the cases are scored with."""
        from evaluator.metrics import resolve_config

        return resolve_config(self.metrics)

    def sandbox_limits(self) -> Limits:
        """The executor's limits: this spec's, in seconds and bytes (``Limits`` keeps its own
        values only for what a phase does not set: open files and the stored log tail)."""
        lim = self.limits
        return Limits(
            wall_time_per_case_s=float(lim.wall_time_per_case_s),
            wall_time_per_submission_s=float(lim.wall_time_per_submission_s),
            memory_bytes=lim.memory_mb * MiB,
            cpus=float(lim.cpus),
            pids=lim.pids,
            output_bytes=lim.output_mb * MiB,
            tmp_bytes=lim.tmp_mb * MiB,
            gpu=lim.gpu,
        )

    def sandbox_options(self) -> SandboxOptions:
        """The sandbox's safe defaults with this phase's relaxations applied."""
        return SandboxOptions(run_as_uid=self.sandbox.run_as_uid)
