"""The package's import graph has no circle, so data flows one way between its rooms.

Read from the source with ``ast`` (nothing is imported): every ``import``/``from ... import``
of a ``kafka_monitor`` module, at the top of a file or inside a function, and ``from . import x``
forms resolved against the importing module. Imports under ``if TYPE_CHECKING:`` count too: a
circle of annotations is still a circle a reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "plugins" / "kafka_monitor"
PACKAGE = "kafka_monitor"


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(name: str, modules: set[str]) -> str | None:
    """The package module an import names: itself, or its nearest package/module prefix."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_names(tree: ast.AST, importer: str, is_package: bool) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = importer.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            # "from kafka_monitor.jmx import presets" imports the module kafka_monitor.jmx.presets.
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = set()
        for name in imported_names(tree, module, path.name == "__init__.py"):
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = resolve(name, modules)
                if target is not None and target != module:
                    targets.add(target)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_finder_sees_a_circle_through_a_function_local_import():
    # The oracle for the oracle: a circle hidden in a function body is found.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    tree = ast.parse("def f():\n    from kafka_monitor.jmx import presets\n")
    assert "kafka_monitor.jmx.presets" in imported_names(tree, "kafka_monitor.config.schema", False)
    relative = ast.parse("from ..store import documents\n")
    assert "kafka_monitor.store.documents" in imported_names(relative, "kafka_monitor.lag.pipeline", False)


def test_the_graph_covers_the_package():
    graph = import_graph()
    assert {"kafka_monitor.tasks", "kafka_monitor.config.schema", "kafka_monitor.lag.pipeline"} <= set(graph)
    # A function-local import is an edge: tasks imports the lag pipeline only inside a function.
    assert "kafka_monitor.lag.pipeline" in graph["kafka_monitor.tasks"]


def test_the_package_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_leaves_import_nothing_from_the_package():
    graph = import_graph()
    for leaf in ("errors", "paths", "vocabulary", "timestamps"):
        assert graph[f"{PACKAGE}.{leaf}"] == set(), f"{leaf} must stay a leaf"
