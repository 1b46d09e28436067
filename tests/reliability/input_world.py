"""Hostile inputs of ``test_trust_input``: the OpenAPI walk, raw ASGI bodies, broken NIfTI.

``json_string_fields`` lists every string-typed location of every JSON request body the API
declares (objects, arrays, ``anyOf`` branches, ``$ref`` resolved); ``valid_bodies`` gives one
accepted body per JSON operation, so a 422 after one field is replaced is that field's doing.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from collections.abc import Iterator
from typing import Any

import nibabel as nib
import numpy as np
from fastapi import FastAPI

HOSTILE = {
    "nul": "\x00",
    "nul-inside": "ab\x00cd",
    "escape": "ab\x1b[2Jcd",
    "c1-next-line": "ab\x85cd",
    "bidi-override": "ab\u202ecd",
    "bidi-isolate": "ab\u2066cd",
}

Location = tuple[str | int, ...]


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _strings(schema: dict[str, Any], spec: dict[str, Any], at: Location) -> Iterator[Location]:
    schema = _resolve(schema, spec)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from _strings(branch, spec, at)
    if schema.get("type") == "string":
        yield at
    for name, sub in schema.get("properties", {}).items():
        yield from _strings(sub, spec, (*at, name))
    if schema.get("type") == "array" and "items" in schema:
        yield from _strings(schema["items"], spec, (*at, 0))


def json_operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, route) -> JSON request-body schema, for every operation that takes one."""
    found = {}
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found[(method.upper(), route)] = content["application/json"]["schema"]
    return found


def json_string_fields(spec: dict[str, Any], schema: dict[str, Any]) -> list[Location]:
    """Every location of a string in bodies of ``schema`` (list items at index 0)."""
    return sorted(set(_strings(schema, spec, ())), key=repr)


def string_parameters(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(METHOD, route, "path" or "query", name) of every string parameter."""
    found = []
    for route, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if _resolve(parameter.get("schema", {}), spec).get("type") == "string":
                    found.append((method.upper(), route, parameter["in"], parameter["name"]))
    return found


def _has(node: Any, key: str | int) -> bool:
    return key < len(node) if isinstance(key, int) else node.get(key) is not None


def _put(node: Any, key: str | int, value: Any) -> None:
    if isinstance(key, int):
        node[key:key + 1] = [value]  # replaces the item, or appends to an empty list
    else:
        node[key] = value


def replaced(body: dict[str, Any], at: Location, value: str) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``at`` (missing objects and list items created)."""
    out = copy.deepcopy(body)
    node: Any = out
    for key, following in zip(at, at[1:], strict=False):
        if not _has(node, key):
            _put(node, key, [] if isinstance(following, int) else {})
        node = node[key]
    _put(node, at[-1], value)
    return out


def raw_json(body: dict[str, Any]) -> bytes:
    """JSON with every non-ASCII character escaped (``\\u0000``), as hostile clients send it."""
    return json.dumps(body, ensure_ascii=True).encode()


def phase_config() -> dict[str, Any]:
    """A phase config with every string field present."""
    return {"channels": ["flair"], "run_mode": "per_case",
            "submissions": {"per_day": 6, "total": 50, "counts": "best"},
            "metrics": "msseg",
            "ranking": {"method": "aggregate_then_rank", "aggregate": "mean",
                        "metrics": ["dice", "lesion_f1"], "primary_metric": "dice"}}


def valid_bodies(ids: dict[str, Any]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(METHOD, route) -> (caller role, a body that route accepts) for every JSON operation.

    Roles are those of ``tests.challenge.authz_world`` plus ``creator`` and ``joiner``, two
    participants without a team.
    """
    phase = {"slug": "walked", "title": "Walked", "description": "all fields",
             "parent_phase_slug": "test", "opens_at": "2020-01-01T00:00:00Z",
             "closes_at": "2099-01-01T00:00:00+01:00", "visibility": "public",
             "leaderboard_visibility": "participants", "hide_scores_until_close": False,
             "dataset_id": ids["dataset"], "config": phase_config()}
    patch = {key: value for key, value in phase.items() if key not in ("slug",
                                                                      "parent_phase_slug")}
    return {
        ("POST", "/api/v1/users"): ("anonymous", {"username": "walker",
                                                  "email": "walker@example.org"}),
        ("POST", "/api/v1/admin/users"): ("admin", {"username": "walker-org", "role": "organizer",
                                                    "email": "org@example.org"}),
        ("POST", "/api/v1/me/tokens"): ("member", {"name": "ci"}),
        ("PUT", "/api/v1/me/password"): ("member", {"password": "correct horse battery"}),
        ("POST", "/api/v1/challenges"): ("organizer", {"slug": "walked", "title": "Walked",
                                                       "description": "text"}),
        ("PATCH", "/api/v1/challenges/{slug}"): ("organizer", {"title": "Alpha",
                                                               "description": "text"}),
        ("POST", "/api/v1/challenges/{slug}/organizers"): ("organizer", {"username": "org2"}),
        ("POST", "/api/v1/challenges/{slug}/phases"): ("organizer", phase),
        ("PATCH", "/api/v1/phases/{phase_id}"): ("organizer", patch),
        ("POST", "/api/v1/challenges/{slug}/teams"): ("creator", {"name": "Walkers"}),
        ("POST", "/api/v1/challenges/{slug}/teams/join"): ("joiner",
                                                           {"invite_code": ids["other_invite"]}),
        ("POST", "/api/v1/teams/{team_id}/members"): ("organizer", {"username": "creator"}),
        ("POST", "/api/v1/phases/{phase_id}/sites"): ("organizer", {"name": "Clinic B"}),
        ("POST", "/api/v1/challenges/{slug}/datasets/manifest"): ("organizer", ids["manifest"]),
        ("POST", "/api/v1/site/lease"): ("site", {"worker_version": "0.1.0"}),
        ("PUT", "/api/v1/site/leases/{lease_id}/cases/{case_id}"): ("site", {
            "status": "missing", "category": "invalid_output: shape_mismatch"}),
        # Last: it ends the lease the case report above needs.
        ("POST", "/api/v1/site/leases/{lease_id}/finish"): ("site", {
            "outcome": "platform_error", "evaluator_version": "0.1.0",
            "message": "engine unreachable"}),
    }


def concrete(route: str, ids: dict[str, Any], **values: str) -> str:
    """``route`` with its path parameters filled from the world (or ``values``)."""
    known = {"slug": "alpha", "phase_slug": "test", "phase_id": ids["phase"],
             "team_id": ids["team"], "dataset_id": ids["dataset"],
             "submission_id": ids["submission"], "evaluation_id": ids["evaluation"],
             "token_id": ids["member_token"], "site_id": ids["site"], "lease_id": ids["lease"],
             "case_id": ids["site_case"], **values}
    return route.format(**known)


def asgi_post(app: FastAPI, path: str, chunks: Iterator[bytes],
               headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """POST ``chunks`` straight to the ASGI app (``path`` may carry a ``?query``); (response
    start message, JSON answer, chunks it received)."""
    path, _, query = path.partition("?")
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 40000),
             "server": ("testserver", 80), "state": {},
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start, json.loads(body or b"{}"), received


def chunks_of(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


def _raw_nifti(array: np.ndarray) -> bytes:
    return bytes(nib.Nifti1Image(array, np.eye(4)).to_bytes())


def broken_nifti(kind: str, array: np.ndarray) -> bytes:
    raw = _raw_nifti(array)
    if kind == "voxels-cut-short":  # a complete gzip stream of a file missing its last voxels
        return gzip.compress(raw[:-200], mtime=0)
    if kind == "gzip-stream-cut":  # the compressed stream itself ends early
        packed = gzip.compress(raw, mtime=0)
        return packed[: len(packed) * 2 // 3]
    assert kind == "nan-in-mask"
    return gzip.compress(_raw_nifti(np.where(array > 0, np.nan, 0).astype(np.float32)), mtime=0)
