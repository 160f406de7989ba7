"""No import cycle between rtcapture's packages.

The graph is read from the source (every ``import`` of every module, at any depth in the
module, ``if TYPE_CHECKING:`` blocks aside): a node is a top-level package with its
sub-packages, or a module at the top level (``rtcapture.errors``, ``rtcapture.cli``); an
edge says one of its modules imports the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rtcapture

ROOT = Path(rtcapture.__file__).parent
TOP = "rtcapture"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def node(name: str) -> str:
    """The graph node of a module: its top-level package (``rtcapture.mock.live.schema`` ->
    ``rtcapture.mock``), or itself at the top level (``rtcapture.errors``); the package's
    own ``__init__`` (``from rtcapture import __version__``) is ``rtcapture`` (``__main__``
    is a module of its own)."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "__init__" or (
            parts[1].startswith("__") and not (ROOT / f"{parts[1]}.py").is_file()):
        return TOP
    return ".".join(parts[:2])


def _type_checking_only(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            skipped.update(id(inner) for body in stmt.body for inner in ast.walk(body))
    return skipped


def imported(path: Path) -> set[str]:
    """The rtcapture modules (or ``module.attribute``) a source file imports."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for stmt in ast.walk(tree):
        if id(stmt) in skipped:
            continue
        if isinstance(stmt, ast.Import):
            found.update(alias.name for alias in stmt.names)
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level:
                base = package.split(".")[:len(package.split(".")) - stmt.level + 1]
                target = ".".join(base + ([stmt.module] if stmt.module else []))
            else:
                target = stmt.module or ""
            found.update(f"{target}.{alias.name}" for alias in stmt.names)
    return {f for f in found if f == TOP or f.startswith(TOP + ".")}


def import_graph() -> dict[str, set[str]]:
    """Node -> the nodes it imports (self-edges left out)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = node(_module_name(path))
        targets = graph.setdefault(source, set())
        targets.update(t for t in map(node, imported(path)) if t != source)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_imports() -> None:
    """The graph has the edges it must have (so that an empty cycle list means something)."""
    graph = import_graph()
    assert "rtcapture.protocol" in graph["rtcapture.store"]
    assert "rtcapture.store" in graph["rtcapture.proxy"]  # the writer stores
    assert "rtcapture.proxy" in graph["rtcapture.replay"]  # the shared writing rules
    assert "rtcapture.errors" in graph["rtcapture.cli"]
    assert "rtcapture.mock.live" not in graph  # sub-packages are their package's
    assert "rtcapture.migrations" in graph["rtcapture.store"]  # installed from migrations/


def test_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_cycle_between_packages() -> None:
    graph = import_graph()
    found = cycles(graph)
    detail = [{v: sorted(graph[v] & set(c)) for v in c} for c in found]
    assert not found, f"import cycles between packages: {detail}"
