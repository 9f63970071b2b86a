"""environment.yml (conda users) and pyproject.toml (pip users) must ask for the same packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return list(project["dependencies"]) + [requirement for name in sorted(extras) for requirement in extras[name]]


def _environment_requirements() -> list[str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    return list(pip_sections[0])


def test_environment_file_matches_pyproject() -> None:
    assert sorted(_environment_requirements()) == sorted(_pyproject_requirements())


def test_torch_is_pinned_to_the_cpu_build_everywhere() -> None:
    assert "torch==2.13.0" in _pyproject_requirements()
    assert "torch==2.13.0" in _environment_requirements()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert makefile.index("torch==2.13.0") < makefile.index('-e ".[dev]"'), "torch must be installed first"


def test_environment_python_matches_pyproject() -> None:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert "python=3.11" in environment["dependencies"]
