"""gptkit's import graph has no cycles, and every module imports on its own in a fresh process.

The graph holds every ``import`` and ``from ... import`` in gptkit, at module level and inside
functions (a function-level import that closes a cycle fails the day it runs first), except
those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import REPO

PACKAGE = REPO / "gptkit"


def _modules() -> dict[str, tuple[ast.Module, str]]:
    """Module name -> (its syntax tree, the package its relative imports start from)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
            package = ".".join(parts)
        else:
            package = ".".join(parts[:-1])
        modules[".".join(parts)] = (ast.parse(path.read_text(), str(path)), package)
    return modules


def _runtime_imports(tree: ast.AST):
    """Import nodes that execute (the bodies of ``if TYPE_CHECKING:`` left out)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _runtime_imports(child))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def import_graph() -> dict[str, set[str]]:
    """Module -> the gptkit modules it imports (``from pkg import name`` counts as ``pkg.name``
    when that is a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (tree, package) in modules.items():
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # from . import x, from ..pkg import y
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_imports_and_finds_cycles():
    graph = import_graph()
    assert "gptkit.model.gpt" in graph["gptkit.model.generate"]  # module level
    assert "gptkit.model.generate" in graph["gptkit.cli.model"]  # inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.slow
def test_every_module_imports_on_its_own():
    def try_import(module: str) -> tuple[str, str]:
        proc = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True,
                              text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})  # fmt: skip
        return module, proc.stderr.strip().splitlines()[-1] if proc.returncode else ""

    with ThreadPoolExecutor(2) as pool:
        failures = [f"{m}: {err}" for m, err in pool.map(try_import, sorted(_modules())) if err]
    assert not failures, "\n".join(failures)
