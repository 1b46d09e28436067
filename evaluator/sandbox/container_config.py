"""The engine-side configuration of one sandbox container (DESIGN.md section 3).

Every default is on unless ``SandboxOptions`` relaxes it. Kept apart from the
executor so what a container may do can be read in one place.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from evaluator.sandbox.base import RunSpec
from evaluator.sandbox.images import LABEL
from evaluator.sandbox.users import ResolvedUser


def container_config(
    spec: RunSpec,
    image_attrs: dict[str, Any],
    group: list[str],
    user: ResolvedUser,
    output_dir: Path,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create``: only ``group``'s input
    dirs (read-only at ``/input/<case_id>``) and ``output_dir`` at ``/output`` are
    mounted; ``/tmp`` and any image VOLUME are size-capped tmpfs."""
    limits, opts = spec.limits, spec.options
    mounts = [
        Mount(f"/input/{c}", str(spec.inputs[c].resolve()), type="bind", read_only=True)
        for c in group
    ]
    mounts.append(Mount("/output", str(output_dir), type="bind", read_only=False))
    # An image VOLUME would get a writable, uncapped anonymous volume on the
    # host disk: cover each with a small tmpfs (charged to the memory limit).
    taken = {m["Target"] for m in mounts} | {"/tmp"}
    volumes = (image_attrs.get("Config") or {}).get("Volumes") or {}
    for path in sorted({posixpath.normpath(v) for v in volumes} - taken):
        mounts.append(Mount(path, None, type="tmpfs", tmpfs_size=limits.tmp_bytes))
    kwargs: dict[str, Any] = {
        "image": spec.image_id,
        "user": user.docker_user,
        "network_mode": "bridge" if opts.network else "none",
        "read_only": opts.read_only_root,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.tmp_bytes},mode=1777"},
        "mounts": mounts,
        "cap_drop": ["ALL"] if opts.cap_drop_all else None,
        "security_opt": ["no-new-privileges"] if opts.no_new_privileges else None,
        "privileged": False,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "init": opts.init,
        "ulimits": [
            Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
            Ulimit(name="core", soft=0, hard=0),
        ],
        "environment": {},
        "hostname": "sandbox",
        "ipc_mode": "private",
        "labels": {**spec.labels, LABEL: "1"},
        # Output is captured through an attach stream (logs.py): nothing on disk.
        "log_config": LogConfig(type="none"),
        "stdin_open": False,
        "tty": False,
        "detach": True,
    }
    if limits.gpu:
        kwargs["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return kwargs
