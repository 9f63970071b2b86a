"""The house's floors hold: core never loads a UI library, the dashboard's state is Panel-free, and the
pipeline never imports the evaluation wing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UI_LIBRARIES = ("panel", "bokeh", "holoviews")


def _loaded_after(statement: str) -> list[str]:
    """UI libraries in ``sys.modules`` after running ``statement`` in a fresh interpreter."""
    probe = f"import sys; {statement}; print(','.join(m for m in {UI_LIBRARIES!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return [name for name in result.stdout.strip().split(",") if name]


@pytest.mark.parametrize(
    "statement",
    [
        "import core",
        "import core.trust, core.fixtures, core.cli",
        "import dashboard.state",
        "from dashboard.state import ExplorerState; ExplorerState(models=['x'], examples=[])",
    ],
)
def test_core_and_the_dashboard_state_load_no_ui_library(statement: str) -> None:
    assert _loaded_after(statement) == [], f"`{statement}` loaded a UI library"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_pipeline_never_imports_the_evaluation_wing_or_the_dashboard() -> None:
    pipeline = [p for p in (ROOT / "core").glob("*.py") if p.name not in ("__init__.py", "cli.py", "__main__.py")]
    assert pipeline
    for path in pipeline:
        wrong = {name for name in _imports(path) if name.startswith(("core.trust", "dashboard"))}
        assert not wrong, f"core/{path.name} imports {sorted(wrong)}"


def test_core_never_imports_the_dashboard() -> None:
    for path in (ROOT / "core").rglob("*.py"):
        wrong = {name for name in _imports(path) if name.split(".")[0] in ("dashboard", *UI_LIBRARIES)}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_benches_never_import_tests() -> None:
    for path in (ROOT / "bench").glob("*.py"):
        wrong = {name for name in _imports(path) if name.split(".")[0] == "tests"}
        assert not wrong, f"bench/{path.name} imports {sorted(wrong)}"


WINGS = ("attribution", "whatif", "trust", "dataset")
FACES = ("core", "core.types", *(f"core.{wing}" for wing in WINGS))
"""What the dashboard and the benches may import from core: the pipeline's face and the wings' doors."""
FIXTURES_DOOR = "core.fixtures"
"""Checkpoints built for tests and benches; the benches and the dashboard's browser-test fixtures use them."""


def _core_imports(path: Path) -> set[str]:
    return {name for name in _imports(path) if name == "core" or name.startswith("core.")}


@pytest.mark.parametrize("folder", ["dashboard", "bench"])
def test_the_dashboard_and_the_benches_import_only_core_faces(folder: str) -> None:
    allowed = {*FACES, FIXTURES_DOOR} if folder == "bench" else set(FACES)
    checked = 0
    for path in sorted((ROOT / folder).rglob("*.py")):
        door = {FIXTURES_DOOR} if path.parent.name == "fixtures" else set()
        wrong = _core_imports(path) - allowed - door
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}: use {', '.join(FACES)}"
        checked += bool(_core_imports(path))
    assert checked, f"no {folder} file imports core: the check checks nothing"


def test_a_wing_reaches_another_wing_only_through_its_door() -> None:
    for path in sorted((ROOT / "core").rglob("*.py")):
        inside = path.relative_to(ROOT / "core").parts
        own = inside[0] if len(inside) > 1 else None
        for name in _core_imports(path):
            parts = name.split(".")
            if len(parts) > 2 and parts[1] in WINGS and parts[1] != own:
                raise AssertionError(f"{path.relative_to(ROOT)} imports {name}: import core.{parts[1]} instead")


def test_no_core_or_dashboard_file_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for folder in ("core", "dashboard")
        for path in (ROOT / folder).rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}, f"files over 500 lines (a file doing several jobs becomes a folder): {long}"
