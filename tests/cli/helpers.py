"""Running a real segarena server in a thread, the CLI in-process, and synthetic datasets."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nibabel as nib
import numpy as np
import uvicorn
from typer.testing import CliRunner, Result

from challenge.cli import app
from challenge.core.serving import uvicorn_config

TOKEN_LINE = re.compile(r"^sgr_[0-9a-f]+_\S+$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(asgi_app: Any) -> Iterator[str]:
    """Serve ``asgi_app`` with uvicorn on a free 127.0.0.1 port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn_config(asgi_app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):  # up to ~25 s: a bounded wait for start-up, not a timing assertion
        if server.started:
            started.set()
            break
        if not thread.is_alive():
            break
        threading.Event().wait(0.05)
    if not started.is_set():
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class Cli:
    """Invoke ``segarena`` in-process against ``url`` with a private CLI config file."""

    url: str
    config: Path

    def __call__(self, *args: str, token: str | None = None,
                 env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
        full_env: dict[str, str | None] = {
            "SEGARENA_CLI_CONFIG": str(self.config), "SEGARENA_URL": self.url,
            "SEGARENA_TOKEN": token, "COLUMNS": "200", "NO_COLOR": "1",
        }
        full_env.update(env or {})
        return CliRunner().invoke(app, list(args), env=full_env, input=input)

    def saved(self) -> dict[str, Any]:
        return json.loads(self.config.read_text())


def api(url: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30)


def token_in(output: str) -> str:
    found = TOKEN_LINE.findall(output)
    assert len(found) == 1, output
    return found[0]


def write_dataset(root: Path, cases: tuple[str, ...] = ("case01", "case02"),
                  shape: tuple[int, int, int] = (8, 8, 8)) -> Path:
    """A tiny valid dataset: ``flair`` inputs and one cubic lesion per reference."""
    rng = np.random.default_rng(7)
    affine = np.diag([1.0, 1.0, 1.2, 1.0])
    for i, case in enumerate(cases):
        (root / "inputs" / case).mkdir(parents=True)
        flair = rng.normal(100, 10, shape).astype(np.float32)
        nib.save(nib.Nifti1Image(flair, affine), root / "inputs" / case / "flair.nii.gz")
        mask = np.zeros(shape, dtype=np.uint8)
        mask[2:4 + i, 2:4, 3:5] = 1
        (root / "references").mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(mask, affine), root / "references" / f"{case}.nii.gz")
    return root


def mode_of(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
