"""Ignores SIGTERM and never finishes."""

import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("sleeping", flush=True)
while True:
    time.sleep(3600)
