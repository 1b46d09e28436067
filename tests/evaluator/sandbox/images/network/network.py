"""Tries to reach the internet and the host (docker bridge gateway); reports each outcome."""

import errno
import json
import os
import socket


def connect(host: str, port: int) -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as exc:
        return (
            errno.errorcode.get(exc.errno, type(exc).__name__) if exc.errno else type(exc).__name__
        )
    finally:
        s.close()


def resolve(name: str) -> str:
    try:
        socket.getaddrinfo(name, 443)
        return "resolved"
    except OSError as exc:
        return type(exc).__name__


host, port = os.environ["PROBE_HOST"], int(os.environ["PROBE_PORT"])
report = {
    "internet": connect("1.1.1.1", 443),
    "gateway": connect(host, port),
    "dns": resolve("example.com"),
    "interfaces": sorted(os.listdir("/sys/class/net")),
}
print(json.dumps(report), flush=True)
