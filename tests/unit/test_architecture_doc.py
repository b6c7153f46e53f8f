"""docs/architecture.md stays in step with the code, and the product's docs stand alone.

- Its layout tree (the fenced block under "## Layout") names every package and module of src/rmmctl/
  and nothing that is not there: adding, moving or removing a module without updating the doc fails.
- Every repository path (`src/...`, `tests/...`, `docs/...`, ...), every dotted `rmmctl.x.y` name and
  every short code name in backticks (`api.execute`, `RunSettings.pin`) in the doc exists.
- README.md and the Markdown docs point at nothing outside the repository (no `../shared`, no
  design notes that are not shipped), and the README links the architecture doc.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PKG = SRC / "rmmctl"
DOC = ROOT / "docs" / "architecture.md"
SHIPPED = {".py", ".sh"}  # what the tree must list (py.typed and caches are not modules)


def layout_block(text: str) -> list[str]:
    """The lines of the first fenced block after the `## Layout` heading."""
    after = text.split("\n## Layout\n", 1)
    assert len(after) == 2, "docs/architecture.md has no '## Layout' section"
    match = re.search(r"^```[^\n]*\n(.*?)^```", after[1], re.MULTILINE | re.DOTALL)
    assert match, "the Layout section has no fenced tree"
    return match.group(1).splitlines()


def tree_paths(lines: list[str]) -> list[str]:
    """Repository paths named by the tree: indentation (2 spaces) nests, a name ending in `/` is a
    folder, several names may share a line; the description starts after two or more spaces."""
    paths: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, folder path)
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        names = re.split(r" {2,}", line.strip(), maxsplit=1)[0].split()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        base = stack[-1][1] if stack else ""
        for name in names:
            path = base + name
            paths.append(path.rstrip("/"))
            if name.endswith("/"):
                stack.append((indent, path))
    return paths


def shipped_modules() -> set[str]:
    out = set()
    for path in PKG.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file() or path.suffix not in SHIPPED:
            continue
        out.add(path.relative_to(ROOT).as_posix())
    return out


def packages() -> set[str]:
    return {p.parent.relative_to(ROOT).as_posix() for p in PKG.rglob("__init__.py") if "__pycache__" not in p.parts}


def test_the_tree_parser_reads_nesting_and_shared_lines() -> None:
    lines = ["src/rmmctl/", "  a.py b.py       two", "  pkg/             a package", "    __init__.py    x",
             "    sub/           deeper", "      c.py", "  d.py  back up"]
    assert tree_paths(lines) == ["src/rmmctl", "src/rmmctl/a.py", "src/rmmctl/b.py", "src/rmmctl/pkg",
                                 "src/rmmctl/pkg/__init__.py", "src/rmmctl/pkg/sub", "src/rmmctl/pkg/sub/c.py",
                                 "src/rmmctl/d.py"]


def test_the_layout_tree_lists_every_package_and_module() -> None:
    named = tree_paths(layout_block(DOC.read_text(encoding="utf-8")))
    missing = sorted((shipped_modules() | packages()) - set(named))
    assert not missing, ("modules or packages missing from the layout tree of docs/architecture.md "
                         "(add a line for each):\n" + "\n".join(missing))


def test_the_layout_tree_names_nothing_that_is_gone() -> None:
    named = tree_paths(layout_block(DOC.read_text(encoding="utf-8")))
    gone = [p for p in named if not (ROOT / p).exists()]
    assert not gone, "docs/architecture.md's layout names paths that do not exist:\n" + "\n".join(gone)
    duplicates = sorted({p for p in named if named.count(p) > 1})
    assert not duplicates, f"named twice in the layout tree: {duplicates}"


REPO_PATH = re.compile(r"(?<![\w./-])((?:src|tests|docs|scripts|benchmarks|inventories|playbooks|\.ci)/[\w./-]*[\w/])")
DOTTED = re.compile(r"(?<![\w./-])(rmmctl(?:\.[A-Za-z_]\w*)+)")
FILE_SUFFIXES = (".db", ".yaml", ".yml", ".md", ".py", ".sh", ".json", ".lock")


def test_every_path_named_in_the_doc_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    paths = sorted(set(REPO_PATH.findall(text)))
    assert any(p.startswith("src/rmmctl/") for p in paths) and "tests/unit/test_import_rules.py" in paths
    gone = [p for p in paths if not (ROOT / concrete(p)).exists()]
    assert not gone, "docs/architecture.md names paths that do not exist:\n" + "\n".join(gone)


def concrete(path: str) -> str:
    """The part of a path before its first placeholder (`tests/fixtures/probes/NAME/` -> its folder)."""
    parts = path.rstrip("/").split("/")
    cut = next((i for i, part in enumerate(parts) if part.isupper()), len(parts))
    return "/".join(parts[:cut])


def resolves(dotted: str) -> bool:
    """`rmmctl.a.b.c`: the longest importable prefix, then the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_rmmctl_name_in_the_doc_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = sorted({n for n in DOTTED.findall(text) if not n.endswith(FILE_SUFFIXES)})
    assert "rmmctl.api" in names
    gone = [n for n in names if not resolves(n)]
    assert not gone, "docs/architecture.md names modules or attributes that do not exist:\n" + "\n".join(gone)


CODE_SPAN = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)`")
PACKAGES = ("rmmctl", "rmmctl.transports.ssh", "rmmctl.probes.linux")  # short names are relative to these
VARIABLES = ("ctx.",)  # a job's HostContext, named as the code names it


def classes() -> dict[str, list[str]]:
    """Top-level class name -> the modules defining it (read with ast, nothing imported)."""
    out: dict[str, list[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                out.setdefault(node.name, []).append(module)
    return out


def test_every_short_code_name_in_the_doc_exists() -> None:
    """`api.execute`, `exec.wire_command`, `RunSettings.pin`: relative to rmmctl (or its ssh and linux
    packages), or a class of rmmctl and its attribute."""
    text = DOC.read_text(encoding="utf-8")
    names = sorted({n for n in CODE_SPAN.findall(text) if not n.endswith(FILE_SUFFIXES) and not n.startswith(VARIABLES)})
    known = classes()
    assert "api.execute" in names and "RunSettings.pin" in names
    gone = []
    for name in names:
        head = name.split(".", 1)[0]
        candidates = [name] if head == "rmmctl" else [f"{p}.{name}" for p in PACKAGES]
        candidates += [f"{m}.{name}" for m in known.get(head, [])]
        if not any(resolves(c) for c in candidates):
            gone.append(name)
    assert not gone, "docs/architecture.md names code that does not exist:\n" + "\n".join(gone)


def test_the_resolver_refuses_what_is_not_there() -> None:
    assert resolves("rmmctl.probes.linux.PROBER") and resolves("rmmctl.errors.exit_code_for")
    assert not resolves("rmmctl.nowhere") and not resolves("rmmctl.store.NoSuchThing")


def product_docs() -> list[Path]:
    """README.md and every Markdown file the repository ships (not caches, venvs or hidden folders)."""
    found = [*ROOT.glob("*.md"), *ROOT.glob("*/*.md"), *(ROOT / "docs").rglob("*.md")]
    return sorted({p for p in found if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)})


OUTSIDE = re.compile(r"\.\./shared|DESIGN\.md")


@pytest.mark.parametrize("doc", product_docs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_docs_point_at_nothing_outside_the_product(doc: Path) -> None:
    hits = [f"{doc.relative_to(ROOT)}:{n}: {line.strip()}"
            for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1) if OUTSIDE.search(line)]
    assert not hits, "the product's docs must stand alone (the architecture is docs/architecture.md):\n" + "\n".join(hits)


def test_the_readme_links_the_architecture_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/architecture.md)" in readme
    assert DOC in product_docs() and ROOT / "README.md" in product_docs()
