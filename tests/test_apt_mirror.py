"""``scripts/apt-mirror.sh``: the Debian mirror provision.sh builds the base image from comes
from the machine's apt sources (one-line and deb822), never from a built-in host name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "apt-mirror.sh"

MAIN_822 = """\
Types: deb deb-src
# a comment inside the stanza
URIs: http://mirror.example/debian http://second.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
SECURITY_822 = """\
Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""
DISABLED_822 = """\
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no
"""
SOURCE_ONLY_822 = """\
types: deb-src
uris: http://source.example/debian
suites: bookworm
"""
MULTILINE_822 = """\
Types: deb
Suites: bookworm
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NdOOHwPIJlgPu6JDcKw/NZJPR8lsD9K7UgrTVYk5NhVaGz
 -----END PGP PUBLIC KEY BLOCK-----
URIs: http://keyed.example/debian
"""
ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb-src http://source.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://third.example/node bookworm-node main
deb [ arch=amd64 ] http://oneline.example/debian bookworm main contrib  # trailing comment
"""

CASES = {  # name: ({relative path: text}, mirror printed)
    "deb822, security and disabled stanzas skipped": (
        {"sources.list.d/debian.sources":
             f"{SECURITY_822}\n{DISABLED_822}\n{SOURCE_ONLY_822}\n{MAIN_822}"},
        "http://mirror.example/debian"),
    "deb822 with a multi-line field": (
        {"sources.list.d/keyed.sources": MULTILINE_822}, "http://keyed.example/debian"),
    "one-line sources.list with options and comments": (
        {"sources.list": ONE_LINE}, "http://oneline.example/debian"),
    "one-line file in sources.list.d": (
        {"sources.list.d/mirror.list": ONE_LINE}, "http://oneline.example/debian"),
    "sources.list first, as apt reads it": (
        {"sources.list": ONE_LINE, "sources.list.d/debian.sources": MAIN_822},
        "http://oneline.example/debian"),
    "sources.list.d in name order, both formats": (
        {"sources.list.d/b.list": ONE_LINE, "sources.list.d/a.sources": MAIN_822},
        "http://mirror.example/debian"),
    "files apt ignores are ignored": (
        {"sources.list.d/old.list.disabled": ONE_LINE,
         "sources.list.d/z.sources": MAIN_822},
        "http://mirror.example/debian"),
}


def _run(apt_dir: Path, suite: str = "bookworm") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), suite, str(apt_dir)], capture_output=True,
                          text=True, timeout=30)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(("files", "mirror"), CASES.values(), ids=CASES.keys())
def test_prints_the_first_binary_mirror_of_the_suite(tmp_path: Path, files: dict[str, str],
                                                     mirror: str) -> None:
    result = _run(_write(tmp_path, files))

    assert (result.returncode, result.stdout, result.stderr) == (0, f"{mirror}\n", "")


@pytest.mark.parametrize("files", [
    {},
    {"sources.list.d/": ""},
    {"sources.list.d/debian.sources": f"{SECURITY_822}\n{DISABLED_822}\n{SOURCE_ONLY_822}",
     "sources.list": "deb http://x.example/debian bullseye main\n"},
], ids=["empty directory", "empty sources.list.d", "no binary source of the suite"])
def test_no_mirror_for_the_suite_is_a_clear_failure(tmp_path: Path,
                                                     files: dict[str, str]) -> None:
    if files.pop("sources.list.d/", None) is not None:
        (tmp_path / "sources.list.d").mkdir()
    result = _run(_write(tmp_path, files))

    assert (result.returncode, result.stdout) == (1, "")
    assert f"no apt source in {tmp_path} serves the Debian suite 'bookworm'" in result.stderr
    assert "SEGARENA_DEBIAN_MIRROR" in result.stderr


def test_the_suite_is_a_parameter(tmp_path: Path) -> None:
    apt_dir = _write(tmp_path, {"sources.list.d/debian.sources": f"{SECURITY_822}\n{MAIN_822}"})

    assert _run(apt_dir, "bookworm-security").stdout == "http://security.example/debian-security\n"
    assert _run(apt_dir, "bookworm-updates").stdout == "http://mirror.example/debian\n"
