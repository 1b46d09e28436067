"""The sandbox: run a submitted image on hidden cases and hand back candidate outputs.

Public API (pure: no database, no web; dataclasses in and out)::

    from evaluator.sandbox import Limits, RunMode, RunSpec, SandboxOptions
    from evaluator.sandbox.docker import DockerExecutor

    executor = DockerExecutor()                          # local engine (docker.from_env)
    info = executor.load_image(archive_path)             # ImageArchiveInfo; raises ArchiveError
    result = executor.run(RunSpec(image_id=info.image_id, inputs={case_id: host_dir},
                                  work_dir=run_dir, mode=RunMode.PER_CASE,
                                  limits=Limits(...), options=SandboxOptions()))
    for case_id, case in result.cases.items():
        case.output   # Path of a copied /output/<case_id>.nii.gz, or None
        case.failure  # None, or a sanitized Failure (timeout, out_of_memory, crashed...)

Each collected output still has to be validated as a NIfTI mask (``evaluator.io``).
``AlgorithmError`` is the submission's fault (show its message, charge the team);
``PlatformError`` is ours (retry, never charge). Modules: ``base`` (interface and
data), ``archive`` (``docker save`` inspection), ``docker`` (the Docker backend),
``container_config`` (every sandbox option in one place), ``outputs`` (the capped
``/output`` and defensive collection), ``overlap`` (the next per_case container prepared and
finished ones removed while one runs), ``endings`` (how a container's end is classified),
``logs``, ``users``, ``images``.

This package's ``__init__`` imports only ``base``, so importing ``archive`` does not
pull in the Docker SDK.
"""

from evaluator.sandbox.base import (
    AlgorithmError,
    CaseRun,
    ContainerRun,
    Executor,
    Failure,
    FailureCategory,
    Limits,
    PlatformError,
    RunMode,
    RunResult,
    RunSpec,
    SandboxError,
    SandboxOptions,
)

__all__ = [
    "AlgorithmError",
    "CaseRun",
    "ContainerRun",
    "Executor",
    "Failure",
    "FailureCategory",
    "Limits",
    "PlatformError",
    "RunMode",
    "RunResult",
    "RunSpec",
    "SandboxError",
    "SandboxOptions",
]
