"""Prints a reference-looking path, then lots of log lines, then crashes with exit 3."""

import sys

print("loading reference mask /data/reference/case-a_lesions_ref.nii.gz", flush=True)
print("ERROR cannot open /srv/segarena/datasets/secret/ref/case-a.nii.gz", file=sys.stderr)
line = "x" * 200
for i in range(20000):  # about 4 MB per stream
    print(f"{i:06d} {line}")
    print(f"{i:06d} {line}", file=sys.stderr)
print("END-OF-STDOUT", flush=True)
print("END-OF-STDERR", file=sys.stderr, flush=True)
sys.exit(3)
