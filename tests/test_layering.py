"""The layering contracts in pyproject.toml hold, and a module that breaks one makes `lint-imports` fail."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the copy of the package in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of bot/ and pyproject.toml that a test may break."""
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__", "static", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_shipped_package_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "source", "contract"), [
    ("core/_probe.py", "import telegram\n", "The core knows nothing"),
    ("core/_probe.py", "import aiohttp\n", "The core knows nothing"),
    ("core/_probe.py", "from bot.log import store\n", "The core knows nothing"),
    ("core/_probe.py", "import sqlite_utils\n", "The core knows nothing"),
    ("log/_probe.py", "from bot.channels.web import chat\n", "The log knows nothing"),
    ("log/_probe.py", "from bot.staff import views\n", "The log knows nothing"),
    ("channels/web/_probe.py", "from bot.channels.telegram import render\n", "Channels do not import each other"),
    ("channels/_probe.py", "from bot.staff import views\n", "Layers"),
    ("core/normalize_probe.py", "from bot.core import engine\n", None),
    ("cli/_probe.py", "from bot.cli import main\n", "No import cycles"),
])
def test_a_wrong_import_breaks_its_contract(tree: Path, module: str, source: str, contract: str | None) -> None:
    (tree / "bot" / module).write_text(source, encoding="utf-8")
    if module == "cli/_probe.py":   # a cycle needs both directions: main -> logs -> _probe -> main
        logs = tree / "bot" / "cli" / "logs.py"
        logs.write_text(logs.read_text(encoding="utf-8") + "\nfrom bot.cli import _probe  # noqa\n", encoding="utf-8")
    result = lint(tree)
    if contract is None:
        assert result.returncode == 0, result.stdout
        return
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert "_probe" in broken


MODULES = sorted((ROOT / "bot").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_no_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "__init__.py"],
                         ids=[str(p.relative_to(ROOT)) for p in MODULES if p.name == "__init__.py"])
def test_package_inits_only_name_their_contents(path: Path) -> None:
    """A docstring (and, at the top, the version): no imports, no code."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    assert body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    rest = body[1:]
    assert all(isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]  # type: ignore[attr-defined]
               for node in rest)
