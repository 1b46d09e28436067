"""Where the CLI keeps the server URL and the API tokens it was given (``segarena login``).

The file (``~/.config/segarena/cli.json``, or ``$SEGARENA_CLI_CONFIG``) maps each server URL to
its own token, so a token saved for one server is never sent to another. It is written with mode
0600 because it holds credentials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    explicit = os.environ.get("SEGARENA_CLI_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "segarena" / "cli.json"


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/")


def load() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(data: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def default_url() -> str:
    """``SEGARENA_URL``, else the URL last saved by ``login``/``init``, else localhost:8000."""
    env = os.environ.get("SEGARENA_URL")
    if env:
        return normalize_url(env)
    saved = load().get("default_url")
    return normalize_url(saved) if isinstance(saved, str) and saved else DEFAULT_URL


def token_for(url: str) -> str | None:
    """``SEGARENA_TOKEN``, else the token saved for exactly this server URL."""
    env = os.environ.get("SEGARENA_TOKEN")
    if env:
        return env.strip()
    server = load().get("servers", {}).get(normalize_url(url), {})
    token = server.get("token") if isinstance(server, dict) else None
    return token if isinstance(token, str) and token else None


def save_token(url: str, token: str, *, username: str | None = None) -> Path:
    """Remember ``token`` for ``url`` and make ``url`` the default server."""
    data = load()
    url = normalize_url(url)
    servers = data.get("servers")
    if not isinstance(servers, dict):
        servers = {}
    servers[url] = {"token": token, **({"username": username} if username else {})}
    data["servers"] = servers
    data["default_url"] = url
    return _write(data)
