"""Who may import what: storage only through ``rtcapture.store``, click only in the CLI.

Storage: outside ``rtcapture/store`` no module imports ``sqlalchemy`` or ``alembic``, reads
a store's ``engine``, or imports a private module of the store. The store's public surface
is

- ``rtcapture.store`` itself: the records, :class:`Store` and ``open_store``,
  ``open_readonly``, ``StoreUnavailable``, ``DatabaseError`` / ``DriverError`` (what to
  catch instead of SQLAlchemy's exceptions), ``session_field_rules``, ``RawChunk`` and
  ``AudioCut``;
- ``rtcapture.store.records``: the same plain records, for code that must not load
  SQLAlchemy (the relay);
- ``rtcapture.store.chunks``: the columnar chunk record and its buffer helpers (numpy and
  pyarrow, no database).

``models``, ``db``, ``store``, ``columnar`` and ``readonly`` are private to the package.

CLI: only ``rtcapture/cli.py`` and ``rtcapture/commands/`` import click; library code
raises the errors of ``rtcapture.errors`` (the CLI maps them to exit codes) and styles
text with ``rtcapture.style``.

Every import counts, at any depth, ``if TYPE_CHECKING:`` blocks included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtcapture

ROOT = Path(rtcapture.__file__).parent
STORE_PUBLIC = frozenset({"rtcapture.store", "rtcapture.store.records", "rtcapture.store.chunks"})
STORE_PRIVATE = frozenset({"models", "db", "store", "columnar", "readonly"})
DATABASE_LIBRARIES = ("sqlalchemy", "alembic")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every module a source file imports; ``from M import N`` gives
    ``M`` and, as N may be a sub-module, ``M.N``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                yield stmt.lineno, alias.name
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level:
                parts = package.split(".")
                base = parts[:len(parts) - stmt.level + 1]
                module = ".".join(base + ([stmt.module] if stmt.module else []))
            else:
                module = stmt.module or ""
            yield stmt.lineno, module
            for alias in stmt.names:
                yield stmt.lineno, f"{module}.{alias.name}"


def engine_reads(path: Path) -> Iterator[int]:
    """Lines where the source reads an attribute called ``engine``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "engine":
            yield node.lineno


def _sources(skip: tuple[str, ...]) -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if not rel.startswith(skip):
            yield rel, path


def storage_violations() -> list[str]:
    """Each import or engine read outside the store that goes around its public surface."""
    found: list[str] = []
    for rel, path in _sources(("rtcapture/store/",)):
        for line, module in imports(path):
            top = module.split(".")[0]
            private = module.startswith("rtcapture.store.") and module not in STORE_PUBLIC \
                and module.split(".")[2] in STORE_PRIVATE
            if top in DATABASE_LIBRARIES or private:
                found.append(f"{rel}:{line} imports {module}")
        found.extend(f"{rel}:{line} reads .engine" for line in engine_reads(path))
    return found


def click_violations() -> list[str]:
    """Each import of click by library code."""
    return [f"{rel}:{line} imports {module}"
            for rel, path in _sources(("rtcapture/cli.py", "rtcapture/commands/"))
            for line, module in imports(path) if module.split(".")[0] == "click"]


def test_the_checks_see_imports() -> None:
    """The walker finds absolute, relative and nested imports (so empty lists mean something)."""
    mod = ROOT / "export" / "cassette.py"
    found = {m for _, m in imports(mod)}
    assert "rtcapture.store" in found and "rtcapture.store.Store" in found
    assert "rtcapture.proxy.ingest" in found
    commands = {m for _, m in imports(ROOT / "commands" / "db.py")}
    assert "click" in commands
    store = {m for _, m in imports(ROOT / "store" / "store.py")}
    assert "sqlalchemy" in store and "rtcapture.store.models" in store
    assert list(engine_reads(ROOT / "store" / "store.py"))


def test_storage_only_through_the_store() -> None:
    assert not storage_violations(), "\n".join(storage_violations())


def test_library_code_does_not_import_click() -> None:
    assert not click_violations(), "\n".join(click_violations())


@pytest.mark.parametrize(("fg", "bold"), [(None, True), ("red", False), ("green", None),
                                          ("yellow", True), ("red", None)])
def test_styles_are_clicks(fg: str | None, bold: bool | None) -> None:
    """The library's styles are byte for byte click's, and unstyle as click does."""
    import click

    from rtcapture.style import style, unstyle

    assert style("a b", fg=fg, bold=bold) == click.style("a b", fg=fg, bold=bold)
    assert unstyle(style("a b", fg=fg, bold=bold)) == click.unstyle(
        click.style("a b", fg=fg, bold=bold)) == "a b"
