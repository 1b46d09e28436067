"""Which package may import which (STYLE "The house", "Seams to straighten").

``evaluator`` is a library: it imports nothing of ``challenge`` or ``leaderboard`` (the worker
that drives the job state machine lives in ``challenge.evaluations``). The pure leaderboard
modules import nothing of ``challenge``, SQLAlchemy or FastAPI, nor a leaderboard module that
does. Imports are read from the source with ``ast``, including those inside functions and
under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_FORBIDDEN = ("challenge", "leaderboard", "sqlalchemy", "fastapi")
PURE_FORBIDDEN = ("challenge", "sqlalchemy", "fastapi")
PURE_LEADERBOARD = ("ranking", "scoring", "stability", "wilcoxon", "signed_rank_layout",
                    "signed_rank_scan", "ranking_config", "plots", "reference_rows")


def module_name(path: Path) -> str:
    """``evaluator/sandbox/base.py`` -> ``evaluator.sandbox.base`` (a package's
    ``__init__.py`` is the package itself)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module named by an ``import`` or ``from ... import`` anywhere in ``source``,
    relative imports resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
    return names


def imports_of(path: Path) -> set[str]:
    return imported_modules(path.read_text(), module_name(path), path.name == "__init__.py")


def offending(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """The names that are, or lie inside, one of the ``forbidden`` top-level packages."""
    return sorted(n for n in names if n.split(".")[0] in forbidden)


def test_evaluator_imports_no_caller_and_no_web_or_database() -> None:
    found = {module_name(p): offending(imports_of(p), LIBRARY_FORBIDDEN)
             for p in sorted((ROOT / "evaluator").rglob("*.py"))}
    assert found, "no evaluator source found"
    assert {m: names for m, names in found.items() if names} == {}


@pytest.mark.parametrize("name", PURE_LEADERBOARD)
def test_pure_leaderboard_module_imports_no_challenge_database_or_web(name: str) -> None:
    path = ROOT / "leaderboard" / f"{name}.py"
    names = imports_of(path)
    assert offending(names, PURE_FORBIDDEN) == []
    impure = {n for n in names if n.startswith("leaderboard")
              and n.removeprefix("leaderboard.") not in PURE_LEADERBOARD}
    assert impure == set(), "a pure module may import only other pure leaderboard modules"


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("import challenge.core.db", "evaluator.io", ["challenge.core.db"]),
    ("def f():\n    from sqlalchemy import select", "leaderboard.ranking", ["sqlalchemy"]),
    ("if TYPE_CHECKING:\n    from fastapi import Request", "leaderboard.plots", ["fastapi"]),
    ("from .. import leaderboard", "evaluator.sandbox.base", []),
    ("from numpy import asarray\nimport challenger", "evaluator.io", []),
])
def test_boundary_check_sees_every_kind_of_import(source: str, module: str,
                                                  expected: list[str]) -> None:
    assert offending(imported_modules(source, module), LIBRARY_FORBIDDEN) == expected
