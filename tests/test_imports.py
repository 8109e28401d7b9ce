"""The package's import graph: every module imports, and no module imports itself back
through others (checked on the source, so imports inside functions count too)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import wildpose

ROOT = Path(wildpose.__file__).parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """{module: the wildpose modules it imports anywhere in its source}."""
    modules = module_names()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_known_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_model_registry_and_metrics_import_no_method_or_dataset():
    graph = import_graph()
    assert not {m for m in graph["wildpose.zoo"] if m.startswith("wildpose.methods")}
    assert not {m for m in graph["wildpose.metrics"] if m.startswith("wildpose.datasets")}


@pytest.mark.parametrize("name", sorted(module_names()))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_the_subpackages_import_each_other_in_one_direction_only():
    # A folder is a layer: if datasets/ imported mocap/ and mocap/ imported datasets/, the
    # folders would not say which builds on which, even with no module-level cycle.
    def folder(module: str) -> str:       # wildpose.datasets.h36m -> wildpose.datasets
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 and (ROOT / parts[1]).is_dir() else module

    folders: dict[str, set[str]] = {}
    for name, edges in import_graph().items():
        if name == "wildpose":
            continue
        node = folder(name)
        folders.setdefault(node, set()).update(
            folder(e) for e in edges if folder(e) not in (node, "wildpose"))
    cycle = find_cycle(folders)
    assert cycle is None, "folders importing each other: " + " -> ".join(cycle)
