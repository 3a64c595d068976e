"""The package's import structure: no cycles among its modules, and the light modules stay light.

The cycle check reads the source (ast), so an import inside a function counts as much as one at module
top; imports under `if TYPE_CHECKING:` are left out (they never run). The implicit import of the parent
package (`embedtune.generation.__init__`) that Python does before any submodule is not an edge.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import embedtune.generation

PACKAGE = "embedtune.generation"
FOLDER = Path(embedtune.generation.__file__).parent


def _module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, modules: set[str], package: str) -> set[str]:
    """Modules of this package imported anywhere in `tree` (functions included, TYPE_CHECKING blocks not)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base in modules:
                found.add(base)
            for alias in node.names:  # `from embedtune.generation import runner`
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(FOLDER.glob("*.py"))
    modules = {_module_name(path) for path in paths}
    graph = {}
    for path in paths:
        name = _module_name(path)
        graph[name] = _imported(ast.parse(path.read_text(encoding="utf-8")), modules, PACKAGE) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_among_generation_modules():
    graph = import_graph()
    assert {f"{PACKAGE}.backends", f"{PACKAGE}.runner", f"{PACKAGE}.prompts"} <= set(graph)
    assert f"{PACKAGE}.runner" in graph[f"{PACKAGE}.backends"]  # function-level imports are seen
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "module",
    ["embedtune.generation", "embedtune.generation.base", "embedtune.generation.filters",
     "embedtune.generation.negatives", "embedtune.generation.backends", "embedtune.generation.prompts",
     "embedtune.generation.parsing", "embedtune.generation.journal"],
)
def test_light_modules_do_not_import_llm_packages(module):
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('distilabel', 'llama_cpp', 'openai', 'vllm') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "", f"importing {module} loaded {result.stdout.strip()}"


def test_the_runner_sets_the_openmp_wait_policy_before_llama_cpp_can_load():
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    code = (
        "import os, sys, embedtune.generation.runner\n"
        "print(os.environ.get('OMP_WAIT_POLICY'), 'llama_cpp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, env=env)
    assert result.stdout.split() == ["PASSIVE", "False"]
