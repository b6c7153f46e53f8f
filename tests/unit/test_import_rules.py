"""The layering rules of docs/architecture.md, read from the source with ast (no import runs).

Third-party boundaries: typer only in cli/, rich only in cli/ and render/, paramiko only in
transports/ssh/, winrm only in transports/winrm, psutil in exactly one module (probes/local.py).
Inside rmmctl: no import circle among module-level imports (imports under `if TYPE_CHECKING:` are
types only; imports inside functions are deferred and may point anywhere).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PKG = SRC / "rmmctl"

ALLOWED = {
    "typer": ("rmmctl.cli",),
    "click": ("rmmctl.cli",),
    "rich": ("rmmctl.cli", "rmmctl.render"),
    "paramiko": ("rmmctl.transports.ssh",),
    "winrm": ("rmmctl.transports.winrm",),
    "psutil": ("rmmctl.probes.local",),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _absolute(mod: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(mod: str, path: Path, *, top_level_only: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file; with top_level_only, only those that run at
    import time (not inside functions, not under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

    def walk(body: list[ast.stmt]) -> Iterator[tuple[str, int]]:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(mod, path, node)
                for alias in node.names:  # `from a.b import c`: module a.b.c if there is one, else a.b
                    yield f"{base}.{alias.name}", node.lineno
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and top_level_only:
                continue
            elif isinstance(node, ast.If) and top_level_only and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        yield from walk([n for n in inner if isinstance(n, ast.stmt)] +
                                        [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body])

    yield from walk(tree.body)


def _within(mod: str, prefixes: tuple[str, ...]) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("library", sorted(ALLOWED))
def test_third_party_library_is_imported_only_where_allowed(library: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for mod, path in modules().items()
        for name, line in imports(mod, path, top_level_only=False)
        if (name == library or name.startswith(library + ".")) and not _within(mod, ALLOWED[library])
    ]
    assert not offenders, f"{library} belongs in {', '.join(ALLOWED[library])} only:\n" + "\n".join(offenders)


def test_psutil_lives_in_exactly_one_module() -> None:
    users = {mod for mod, path in modules().items()
             for name, _ in imports(mod, path, top_level_only=False) if name.split(".")[0] == "psutil"}
    assert users == {"rmmctl.probes.local"}


def test_no_import_circle_among_modules() -> None:
    mods = modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        targets = set()
        for name, _ in imports(mod, path, top_level_only=True):
            while name and name not in mods:  # `from rmmctl.x import Name`: the module is rmmctl.x
                name = name.rpartition(".")[0]
            if name and name != mod and name.startswith("rmmctl"):
                targets.add(name)
        graph[mod] = targets
    cycles = _cycles(graph)
    assert not cycles, "import circles (module-level imports):\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_violation() -> None:
    """The rules are not vacuous: the walker finds typer in cli/ and paramiko in transports/ssh/."""
    mods = modules()
    seen = {name.split(".")[0] for mod, path in mods.items() if mod.startswith("rmmctl.cli")
            for name, _ in imports(mod, path, top_level_only=False)}
    assert "typer" in seen
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
