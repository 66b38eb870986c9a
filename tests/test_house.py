"""The house checks, as tests: the one test command README gives (and CI runs) also lints, checks
formatting, holds the import layering and type-checks the package. Each runs the tool itself, with
the configuration in pyproject.toml, and a failure shows the tool's own report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = REPO / "layers" / "shared" / "python"
TOOLS = Path(sys.executable).parent  # the virtual environment the tests run in


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(TOOLS)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -r requirements-dev.txt"
    return found


def _passes(command: list[str], cwd: Path = REPO) -> None:
    # This checkout's package first, whatever else is installed under the name.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), str(REPO)])}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    shown = " ".join([Path(command[0]).name, *command[1:]])
    report = "\n".join(part for part in (done.stdout.strip(), done.stderr.strip()) if part)
    if done.returncode != 0:
        pytest.fail(f"`{shown}` failed (exit {done.returncode}):\n{report}", pytrace=False)


@pytest.mark.parametrize(
    "arguments", [["check", "."], ["format", "--check", "."]], ids=["ruff check", "ruff format --check"]
)
def test_ruff(arguments: list[str]) -> None:
    _passes([_tool("ruff"), *arguments])


def test_import_layers() -> None:
    """import-linter's contracts ([tool.importlinter]): imports point one way."""
    _passes([_tool("lint-imports"), "--no-cache", str(REPO / "pyproject.toml")], cwd=PACKAGE_ROOT)


def test_types() -> None:
    """mypy over layers/shared/python/dealflow, as [tool.mypy] configures it."""
    _passes([sys.executable, "-m", "mypy"])


def test_test_files_have_names_of_their_own() -> None:
    # tests/ has no packages: two test files of one name stop pytest collecting either.
    names: dict[str, list[str]] = {}
    for path in (REPO / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
