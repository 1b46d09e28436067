"""Reports what the sandbox lets a container see and do, as one JSON line on stdout."""

import errno
import json
import os
import socket


def status_fields() -> dict:
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}:
                fields[key] = value.strip()
    return fields


def try_write(path: str) -> str:
    try:
        with open(path, "ab") as fh:
            fh.write(b"x")
        return "written"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def try_read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            fh.read(16)
        return "read"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def main() -> None:
    own = sorted(os.listdir("/input"))
    report: dict = {"uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid()}
    report["status"] = status_fields()
    report["input_listing"] = own
    # Guess other cases' paths (the test names cases case-a, case-b, case-c).
    report["other_reads"] = {
        c: try_read(f"/input/{c}/flair.nii.gz")
        for c in ("case-a", "case-b", "case-c")
        if c not in own
    }
    writes = {p: try_write(p) for p in ("/probe", "/etc/probe", "/usr/probe", "/opt/probe")}
    for c in own:
        writes[f"/input/{c}/new"] = try_write(f"/input/{c}/new")
        writes[f"/input/{c}/flair.nii.gz"] = try_write(f"/input/{c}/flair.nii.gz")
    report["writes"] = writes
    report["tmp_write"] = try_write("/tmp/probe")
    report["env_keys"] = sorted(os.environ)
    report["hostname"] = socket.gethostname()
    with open("/proc/self/mountinfo") as fh:
        report["mounts"] = sorted({line.split()[4] for line in fh})
    report["interfaces"] = sorted(os.listdir("/sys/class/net"))
    print(json.dumps(report), flush=True)


main()
