"""The house keeps its floors: layers import downward only (import-linter, with the contracts in pyproject.toml),
no two modules import each other in a circle, and no project import hides inside a function."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from helpers.paths import REPO_ROOT

HELPERS = REPO_ROOT / "helpers"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_the_layer_contracts_hold():
    done = _lint_imports(REPO_ROOT)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_layer_check_fails_on_an_upward_import(tmp_path):
    """A copy of the package in which the bottom layer imports the runner, inside a function: broken."""
    shutil.copytree(HELPERS, tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "helpers" / "paths.py").open("a") as f:
        f.write("\n\ndef _upward():\n    from helpers import workbook\n\n    return workbook\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "helpers.paths is not allowed to import helpers.workbook" in done.stdout, done.stdout[-3000:]


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module, ignoring a package's imports of its own submodules
    (an __init__ that re-exports them)."""
    def edges(module):
        return {m for m in graph.find_modules_directly_imported_by(module)
                if m.startswith("helpers") and not m.startswith(module + ".")}

    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module.startswith("helpers") and module not in index:
            visit(module)
    return groups


def test_no_two_modules_import_each_other_in_a_circle():
    graph = grimp.build_graph("helpers", cache_dir=None)
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    class Graph:
        modules = {"helpers.a", "helpers.b", "helpers.c", "helpers.pkg", "helpers.pkg.x"}
        imports = {"helpers.a": {"helpers.b"}, "helpers.b": {"helpers.a"}, "helpers.c": {"helpers.a"},
                   "helpers.pkg": {"helpers.pkg.x"}, "helpers.pkg.x": {"helpers.c"}}

        def find_modules_directly_imported_by(self, module):
            return self.imports.get(module, set())

    assert _cycles(Graph()) == [["helpers.a", "helpers.b"]]


def _local_project_imports(path: Path) -> list[str]:
    """file:line of every import of a project module made inside a function (lazy third-party imports are fine)."""
    found = []
    for func in ast.walk(ast.parse(path.read_text())):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else
                     ["helpers"] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n == "helpers" or n.startswith("helpers.") for n in names):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    return sorted(set(found))


def test_no_project_import_hides_inside_a_function():
    found = [hit for path in sorted(HELPERS.rglob("*.py")) for hit in _local_project_imports(path)]
    assert found == []


def test_the_local_import_finder_sees_one(tmp_path):
    probe = REPO_ROOT / "helpers" / "__probe__.py"
    source = "import torch\n\n\ndef f():\n    import pandas\n    from helpers import checks\n    from . import task\n"
    try:
        probe.write_text(source)
        assert _local_project_imports(probe) == ["helpers/__probe__.py:6", "helpers/__probe__.py:7"]
    finally:
        probe.unlink()
