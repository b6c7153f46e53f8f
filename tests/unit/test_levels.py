"""Syslog levels: one list and one alias table (rmmctl.levels), used by the CLI, the probe, the parsers
and the logs schema; no other module spells them out again."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest

from rmmctl.levels import ALIASES, LEVELS, canonical, level_name, level_number
from rmmctl.probes.linux import bundle
from rmmctl.probes.linux.logs import syslog_entry

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "rmmctl"


def _literals(tree: ast.AST) -> list[ast.AST]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Tuple, ast.List, ast.Set, ast.Dict))]


def _strings(nodes: list[ast.expr | None]) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_other_module_has_a_level_list_or_an_alias_table() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "levels.py":
            continue
        for node in _literals(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Dict):  # an alias table: spelling -> level name
                pairs = zip(_strings(node.keys), _strings(node.values))  # type: ignore[arg-type]
                bad = sum(k in ALIASES and v in LEVELS for k, v in pairs) >= 2
            else:  # a list of the level names
                bad = len(set(_strings(node.elts)) & set(LEVELS)) >= 4  # type: ignore[arg-type]
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], "syslog levels belong in rmmctl/levels.py only"


def test_the_logs_schema_uses_the_same_list() -> None:
    schema = json.loads((ROOT / "docs" / "schemas" / "logs.schema.json").read_text())
    assert tuple(schema["$defs"]["level"]["enum"]) == LEVELS


@pytest.mark.parametrize(("name", "number"), [("err", 3), ("error", 3), ("ERROR", 3), ("warn", 4),
                                              ("Warning", 4), ("panic", 0), ("emergency", 0),
                                              ("critical", 2), ("debug", 7)])
def test_names_and_aliases_map_to_one_number(name: str, number: int) -> None:
    assert level_number(name) == number and canonical(name) == LEVELS[number]
    script = bundle.build_script(["logs"], nonce="abcdef12", log_level=name)
    assert f"PRIO={number}\n" in script


def test_unknown_levels_and_priorities() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'; expected one of emerg, alert"):
        canonical("loud")
    assert [level_name(p) for p in (0, "3", 7, 9, None, "x")] == ["emerg", "err", "debug", "info", "info", "info"]


def test_syslog_facility_level_fields_use_the_aliases() -> None:
    utc = dt.timezone.utc
    got = [syslog_entry(f"Nov 22 04:00:00 h1 kern.{lvl} kernel: x", now=1795320000, utc_offset=utc)["level"]
           for lvl in ("panic", "error", "warn", "notice")]
    assert got == ["emerg", "err", "warning", "notice"]
