"""The face modules import without cycles, and the landmark backend names are defined once."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import pytest

import streamfilter.faces
from streamfilter.errors import WeightsMissingError
from streamfilter.faces.backend import BACKENDS, make_backend

FACES = Path(streamfilter.faces.__file__).parent
MODULES = sorted(path.stem for path in FACES.glob("*.py") if path.stem != "__init__")


def sibling_imports(module: str) -> set[str]:
    """The face modules ``module`` imports anywhere, function bodies (lazy imports) included."""
    tree = ast.parse((FACES / f"{module}.py").read_text())
    return {node.module.split(".")[0] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}


def test_face_modules_form_no_import_cycle():
    graph = {module: sibling_imports(module) for module in MODULES}
    assert set().union(*graph.values()) <= set(MODULES)
    tuple(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle, lazy imports counted


@pytest.mark.parametrize("module", MODULES)
def test_face_module_imports_first_in_a_fresh_interpreter(module):
    subprocess.run([sys.executable, "-c", f"import streamfilter.faces.{module}"], check=True, capture_output=True)


def test_choosing_a_backend_imports_none():
    code = ("import sys, streamfilter.faces.backend; "
            "print(sorted(m for m in sys.modules if m.endswith(('_backend', 'dlib', 'torch'))))")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", BACKENDS)
def test_make_backend_builds_every_named_backend(name):
    try:
        backend = make_backend(name)
    except WeightsMissingError:
        pytest.skip(f"{name} weights are not on this machine")
    assert backend.name == name
    backend.close()
