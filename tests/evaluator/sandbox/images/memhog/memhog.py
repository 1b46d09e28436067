"""Allocates (and touches) memory in 16 MiB steps, far past any sane limit."""

chunks = []
for i in range(256):  # up to 4 GiB
    chunks.append(bytearray(b"\x01") * (16 * 1024 * 1024))
    print(f"allocated {16 * (i + 1)} MiB", flush=True)
