"""Tries to fill /output and /tmp (up to 2 GiB each); reports how much it could write."""

import json
import os

CHUNK = b"\0" * (1024 * 1024)


def fill(path: str, limit: int = 2048) -> dict:
    try:
        with open(path, "wb") as fh:
            for _ in range(limit):
                fh.write(CHUNK)
                fh.flush()
        error = None
    except OSError as exc:
        error = exc.errno
    return {"size": os.path.getsize(path), "error": error}


cases = sorted(os.listdir("/input"))
report = {"output": fill(f"/output/{cases[0]}.nii.gz"), "tmp": fill("/tmp/fill")}
print(json.dumps(report), flush=True)
