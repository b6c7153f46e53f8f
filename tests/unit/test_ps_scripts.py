"""Every PowerShell script rmmctl sends is parsed here (tree-sitter-powershell): PowerShell itself cannot
run on this machine, so a syntax error must be caught before a Windows host sees it."""

from __future__ import annotations

import os
from importlib import resources

import pytest

from rmmctl.probes.windows import bundle
from rmmctl.probes.windows.prober import sections

try:
    import tree_sitter
    import tree_sitter_powershell

    PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    MISSING = None
except ImportError as exc:  # a test dependency: missing under CI is a failure
    PARSER, MISSING = None, str(exc)

PS_DIR = resources.files("rmmctl.probes.windows").joinpath("ps")
SCRIPTS = sorted(p.name for p in PS_DIR.iterdir() if p.name.endswith(".ps1"))
SIZE_BUDGET = 6000  # characters per section script: they travel in every probe


@pytest.fixture(autouse=True)
def _need_parser() -> None:
    if MISSING is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"tree-sitter-powershell unavailable in CI: {MISSING}", pytrace=False)
    pytest.skip(f"tree-sitter-powershell unavailable: {MISSING}")


def errors(src: str) -> list[str]:
    """The lines of the parse's ERROR and MISSING nodes (empty: it parses)."""
    assert PARSER is not None
    tree = PARSER.parse(src.encode("utf-8"))
    found: list[str] = []

    def walk(node: object) -> None:
        n = node  # tree_sitter.Node
        if n.type == "ERROR" or n.is_missing:  # type: ignore[attr-defined]
            row = n.start_point[0]  # type: ignore[attr-defined]
            found.append(f"line {row + 1}: {src.splitlines()[row] if row < len(src.splitlines()) else ''}")
        for child in n.children:  # type: ignore[attr-defined]
            walk(child)

    walk(tree.root_node)
    return found


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_parses(name: str) -> None:
    src = bundle.ps_file(name)
    assert errors(src) == [], f"{name} does not parse"
    if not name.startswith("_"):
        assert len(src) <= SIZE_BUDGET, f"{name} is {len(src)} characters (budget {SIZE_BUDGET})"


def test_the_whole_probe_parses_as_sent() -> None:
    every = list(sections())
    script = bundle.build_script(every, nonce="0123abcd", params={"since": 1.0, "BACKUP_PATHS": ["C:\\b"]},
                                 budget_s=bundle.budgets(every, None))
    assert errors(script) == []


def test_a_broken_script_is_flagged() -> None:
    assert errors("$a = @(Get-Service | ? { $_.Status -ne 'Running' }") != []
    assert errors("try { 1 } catch { 2 ") != []
