"""Structural rules of the library, read from its source with :mod:`ast` (nothing is imported).

(a) No private name (``_x``) crosses a module boundary of ``verl_videorft``: neither
    ``from verl_videorft.m import _x`` nor ``m._x`` on a name bound to another module of the package.
(b) No import cycle among ``verl_videorft`` modules, counting the imports a module runs when it is
    imported (module level, ``try``/``if`` blocks included, ``if TYPE_CHECKING:`` excluded); imports
    inside functions run later and do not count. An edge goes to the module named, not to its parent
    packages (Python finishes a partially imported package without trouble).
(c) No module over 400 lines (the target is ~300; this is the hard stop).

``python tests/test_code_rules.py`` lists modules over 300 lines and functions over 60 lines.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "verl_videorft"
ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. verl_videorft.video.cache
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def load_modules(root: Path = ROOT) -> dict[str, Module]:
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = Module(name, path, ast.parse(path.read_text(), filename=str(path)))
    return modules


MODULES = load_modules()


def absolute(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    base = base[: len(base) - node.level + (1 if module.is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_time_nodes(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not inside functions or classes'
    methods; ``if TYPE_CHECKING:`` skipped)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from import_time_nodes(node.body)
            yield from import_time_nodes(node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                yield from import_time_nodes(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from import_time_nodes(handler.body)
        elif isinstance(node, ast.ClassDef):
            yield from import_time_nodes(node.body)


def import_targets(module: Module, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The package modules an import statement loads."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        return
    source = absolute(module, node)
    if source.split(".")[0] != PACKAGE:
        return
    submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
    if len(submodules) < len(node.names):
        yield source  # some names are attributes of the module itself
    yield from submodules


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module in MODULES.values():
        for node in import_time_nodes(module.tree.body):
            graph[module.name].update(t for t in import_targets(module, node) if t in MODULES and t != module.name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def private_crossings(module: Module) -> list[str]:
    """``from other import _x`` and ``other._x`` where ``other`` is another package module."""
    found = []
    bound: dict[str, str] = {}  # local name -> package module it stands for
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES and a.name != module.name:
                    bound[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node)
            if source not in MODULES:
                continue
            for a in node.names:
                target = f"{source}.{a.name}"
                if target in MODULES and target != module.name:
                    bound[a.asname or a.name] = target
                elif is_private(a.name) and source != module.name:
                    found.append(f"{module.where(node)} imports {a.name} from {source}")
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            chain = _dotted(node.value)
            if chain is not None and (chain in bound or chain in MODULES):
                found.append(f"{module.where(node)} uses {chain}.{node.attr}")
    return found


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def line_count(module: Module) -> int:
    return len(module.path.read_text().splitlines())


def long_functions(module: Module, limit: int) -> Iterator[tuple[str, int]]:
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                yield f"{module.where(node)} {node.name}", length


# -- the rules -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_crosses_modules(name: str) -> None:
    assert private_crossings(MODULES[name]) == []


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph()) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_under_hard_line_limit(name: str) -> None:
    assert line_count(MODULES[name]) <= MAX_MODULE_LINES


# -- the checks can fail ----------------------------------------------------------------------------

def _fake(name: str, source: str) -> Module:
    path = ROOT / PACKAGE / (name.split(".", 1)[1].replace(".", "/") + ".py")
    return Module(name, path, ast.parse(source))


@pytest.mark.parametrize(("source", "hits"), [
    ("from verl_videorft.video.cache import _x\n", 1),
    ("from verl_videorft.video import cache\ncache._x()\n", 1),
    ("import verl_videorft.video.cache as c\nc._x\n", 1),
    ("import verl_videorft.video.cache\nverl_videorft.video.cache._x\n", 1),
    ("from verl_videorft.video.cache import NpyDiskStore\n", 0),
    ("from verl_videorft import __version__\n", 0),
    ("def f(obj):\n    return obj._x\n", 0),
])
def test_private_crossing_detection(source: str, hits: int) -> None:
    assert len(private_crossings(_fake("verl_videorft.probe", source))) == hits


@pytest.mark.parametrize(("graph", "cycles"), [
    ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_cycle_detection(graph: dict[str, set[str]], cycles: list[list[str]]) -> None:
    assert find_cycles(graph) == cycles


@pytest.mark.parametrize(("source", "counted"), [
    ("import verl_videorft.names\n", ["verl_videorft.names"]),
    ("try:\n    import verl_videorft.names\nexcept ImportError:\n    pass\n", ["verl_videorft.names"]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import verl_videorft.names\n", []),
    ("def f():\n    import verl_videorft.names\n", []),
    ("from verl_videorft.video import cache\n", ["verl_videorft.video.cache"]),
])
def test_import_time_edges(source: str, counted: list[str]) -> None:
    module = _fake("verl_videorft.probe", source)
    found = [t for node in import_time_nodes(module.tree.body) for t in import_targets(module, node)]
    assert found == counted


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    for module in MODULES.values():
        if line_count(module) > 300:
            print(f"module {module.path.relative_to(ROOT)}: {line_count(module)} lines")
    for module in MODULES.values():
        for where, length in long_functions(module, limit):
            print(f"function {where}: {length} lines")
