"""Reports the uid/gid it runs as."""

import json
import os

print(json.dumps({"uid": os.getuid(), "gid": os.getgid()}), flush=True)
