"""The one direction of imports of DESIGN.md holds in the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("bidvis", "controller", "vision", "firmware_bridge", "careplan_api", "sim", "tests")

# package -> the modules of ours it may import (a name allows the module and everything under it)
ALLOWED = {
    "firmware_bridge": ("firmware_bridge",),
    "vision": ("vision",),
    "careplan_api": ("careplan_api",),
    "controller": ("controller", "firmware_bridge", "vision", "careplan_api.schemas", "careplan_api.client"),
    # sim may read the one table of servo facts (pure data), besides the codec and the kinematics.
    "sim": ("sim", "firmware_bridge.protocol", "firmware_bridge.control_table", "controller.kinematics"),
    "bidvis": ("bidvis", "controller", "vision", "firmware_bridge", "careplan_api", "sim"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _violations(package: str, repo: Path = REPO) -> list[str]:
    allowed = ALLOWED[package]
    found = []
    for path in sorted((repo / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top not in OURS:
                continue
            # "from careplan_api import schemas" names the module as careplan_api.schemas
            if not any(name == a or name.startswith(a + ".") or a.startswith(name + ".") for a in allowed):
                found.append(f"{path.relative_to(repo)} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_the_design_list(package):
    assert _violations(package) == []


def test_the_rule_catches_an_upward_import(tmp_path):
    (tmp_path / "vision").mkdir()
    (tmp_path / "vision" / "bad.py").write_text("from controller.loop import run_meal\n")
    assert _violations("vision", tmp_path) == [
        "vision/bad.py imports controller.loop",
        "vision/bad.py imports controller.loop.run_meal",
    ]
