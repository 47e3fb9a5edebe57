"""Layering: ``hub/core/`` (the private plumbing) imports nothing from the layers above it.

Plugins, the test kit, the simulators, the demo and the ``hub`` command all build on the
core; the core never reaches up to them. Checked statically over every module in
``hub/core`` (every import statement anywhere in a file: module level, inside functions,
under ``TYPE_CHECKING``; ``importlib.import_module("...")`` with a literal name too), and
at run time (importing every core module loads none of them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "hub" / "core"
ABOVE_THE_CORE = ("hub.plugins", "hub.testing", "hub.simulate", "hub.demo", "hub.cli")
"""hub.plugins and hub.testing by the project's rule; the others are built on the core too."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module name ``source`` imports, with its line: ``import a.b``, ``from a import
    b`` (as ``a`` and ``a.b``), relative imports resolved, ``import_module("a.b")``."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("import_module", "__import__")
                )
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in ABOVE_THE_CORE)


CORE_MODULES = sorted(CORE.rglob("*.py"))


def test_the_core_has_modules() -> None:
    assert len(CORE_MODULES) >= 10 and CORE / "runtime.py" in CORE_MODULES


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_a_core_module_imports_nothing_above_the_core(path: Path) -> None:
    names = imported_names(path.read_text(), module_name(path), path.name == "__init__.py")
    bad = sorted({f"line {line}: {name}" for line, name in names if forbidden(name)})
    assert not bad, f"{path.relative_to(REPO)} imports above the core: {bad}"


def test_importing_every_core_module_loads_nothing_above_it() -> None:
    code = (
        "import importlib, pkgutil, sys, hub.core\n"
        "for m in pkgutil.walk_packages(hub.core.__path__, 'hub.core.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({ABOVE_THE_CORE!r})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- the checker finds what it must --------------------------------------------------------------


def test_the_checker_finds_imports_anywhere_in_a_file() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import bus\n"
        "if TYPE_CHECKING:\n"
        "    from hub.testing import FakeClock\n"
        "def later():\n"
        "    from ...plugins.lidar import simulator\n"
        "    import hub.simulate.links\n"
        "    return importlib.import_module('hub.demo.runner')\n"
    )
    names = imported_names(source, "hub.core.transports.serial", is_package=False)
    assert sorted((line, n) for line, n in names if forbidden(n)) == [
        (4, "hub.testing"),
        (4, "hub.testing.FakeClock"),
        (6, "hub.plugins.lidar"),
        (6, "hub.plugins.lidar.simulator"),
        (7, "hub.simulate.links"),
        (8, "hub.demo.runner"),
    ]
    assert (2, "hub.core.transports.bus") in names  # a sibling, resolved: allowed
    up_one = imported_names("from ..plugins import x\n", "hub.core.transports.serial", False)
    assert up_one == [(1, "hub.core.plugins"), (1, "hub.core.plugins.x")]
    assert not forbidden("hub.plugin") and not forbidden("hub.testingx")
