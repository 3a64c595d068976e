"""The shape of the house: no import cycles among embedtune's modules, small rooms, logic free of ZenML."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "embedtune"
MAX_LINES = 400
ONE_IDEA = {"embedtune/config.py"}  # the typed config: one class per section, long only because it is complete


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """embedtune modules imported anywhere in the file (function-level and TYPE_CHECKING ones included)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` (module -> modules it imports) as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == 1:
                return stack[stack.index(child):] + [child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_check_finds_a_cycle_and_sees_function_level_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "embedtune.models.paths" in GRAPH["embedtune.models.spec"]  # imported inside a function


def test_embedtune_modules_import_each_other_without_cycles():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_logic_module_is_a_small_room(name):
    path = MODULES[name]
    relative = str(path.relative_to(ROOT))
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert relative in ONE_IDEA or lines <= MAX_LINES, f"{relative} has {lines} lines; split it along its sections"


def test_the_logic_never_imports_the_cli_steps_or_pipelines():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in {"commands", "steps", "pipelines", "run"}, name
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in {"commands", "steps", "pipelines", "run"}, name


def test_a_newcomer_finds_the_prompt_the_filters_the_promotion_rule_and_the_report_by_name():
    for relative in (
        "embedtune/generation/prompts.py",
        "embedtune/generation/filters.py",
        "embedtune/evaluation/promotion.py",
        "embedtune/reporting/evaluation.py",
    ):
        assert (ROOT / relative).is_file(), relative


def test_unit_tests_mirror_the_packages():
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    missing = [name for name in packages if not (ROOT / "tests" / "unit" / name).is_dir()]
    assert not missing, f"tests/unit/<package>/ missing for {missing}"
