"""Fills the image's declared VOLUME /data (up to 1 GiB); reports what it managed."""

import errno
import json
import os

CHUNK = b"\0" * (1024 * 1024)
error = None
try:
    with open("/data/fill", "wb") as fh:
        for _ in range(1024):
            fh.write(CHUNK)
            fh.flush()
except OSError as exc:
    error = errno.errorcode.get(exc.errno, str(exc.errno))
size = os.path.getsize("/data/fill") if os.path.exists("/data/fill") else -1
print(json.dumps({"size": size, "error": error, "inputs": sorted(os.listdir("/input"))}))
