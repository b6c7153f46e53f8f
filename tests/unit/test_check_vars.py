"""Every inventory var a check reads is declared on the check (thresholds or vars) with the default its
code uses, and `rmmctl diagnose --list` and docs/diagnose.md show them (issue 7, B9).

Runtime: each built-in check runs on every captured fixture of its sections, with no vars and with a set
that reaches the deeper branches; the host vars and thresholds it is given record every key read.
AST: a key read in a branch no fixture reaches (`hv.get("x")`, `t["x"]`) is still declared in its module.
"""

from __future__ import annotations

import ast
import itertools
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rmmctl.checks.catalog import BUILTIN_CHECKS, CHECKS
from rmmctl.checks.base import Thresholds
from rmmctl.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cups import OFFICE_MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROBES = ROOT / "tests" / "fixtures" / "probes"
CHECKS_DIR = ROOT / "src" / "rmmctl" / "checks"
DEEP_VARS: dict[str, Any] = {  # values that take the rules past their early returns
    "backup_paths": ["/srv/backups/fresh.tar.gz", {"path": "/srv/backups/nightly", "max_age_hours": 48},
                     "/srv/backups/stale.tar.gz", "/srv/backups/empty.dump", "/srv/backups/missing.tar"],
    "writable_mounts": ["/srv/ro"], "printer_models": OFFICE_MODELS, "print_server": True,
    "clamav_db_dir": "/var/lib/clamav", "time_service_required": True, "logs_window_hours": 2,
}


class Recording(Mapping[str, Any]):
    """A read-only mapping that remembers every key looked up (present or not)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data, self.read = dict(data), set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.data.get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a check must name the vars it reads, not walk all of them")

    def __len__(self) -> int:
        return len(self.data)


def cases(section: str) -> list[dict[str, Any]]:
    """The captured parses of a section, but not the failed ones (diagnose skips checks on those)."""
    parsed = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((PROBES / section).glob("*.json"))]
    return [c for c in parsed if "error" not in c]


def fact_sets(check: Any) -> list[dict[str, Any]]:
    """Every combination of the captured cases of the check's sections (probe.incomplete: with errors)."""
    if not check.sections:
        return [{"errors": {}}, {"errors": {"updates": "updates: timed out"}}]
    combos = itertools.product(*(cases(s) for s in check.sections))
    return [{**dict(zip(check.sections, combo)), "errors": {}} for combo in combos]


def declared(check: Any) -> set[str]:
    return set(check.thresholds) | set(getattr(check, "vars", {}))


def reads(check: Any, facts: Mapping[str, Any], host_vars: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(host var keys, threshold keys) the check's params and rule read on these facts."""
    hv = Recording(host_vars)
    t = Recording(Thresholds(check.thresholds).resolve(host_vars))
    check.params(hv, "h1")
    list(check.evaluate(facts, t, hv))
    return hv.read, t.read


@pytest.mark.parametrize("check", BUILTIN_CHECKS, ids=lambda c: c.id)
def test_every_var_read_at_runtime_is_declared(check: Any) -> None:
    assert fact_sets(check), f"{check.id}: no captured facts for {check.sections}"
    for facts, host_vars in itertools.product(fact_sets(check), ({}, DEEP_VARS)):
        hv_read, t_read = reads(check, facts, host_vars)
        assert hv_read <= declared(check), f"{check.id} reads undeclared vars {sorted(hv_read - declared(check))}"
        assert t_read <= set(check.thresholds), f"{check.id} reads undeclared thresholds {sorted(t_read)}"


@pytest.mark.parametrize("check", [c for c in BUILTIN_CHECKS if getattr(c, "vars", None)], ids=lambda c: c.id)
def test_declared_defaults_are_the_code_defaults(check: Any) -> None:
    """Setting each declared var to its declared default changes nothing: --list shows the real default."""
    for facts in fact_sets(check):
        unset = (check.params({}, "h1"), list(check.evaluate(facts, check.thresholds, {})))
        explicit = dict(check.vars)
        assert (check.params(explicit, "h1"), list(check.evaluate(facts, check.thresholds, explicit))) == unset


def _literal_reads(tree: ast.AST) -> Iterator[tuple[str, str, int]]:
    """(mapping name, key, line) for `NAME.get("key", ...)` and `NAME["key"]` on hv/host_vars/t."""
    for node in ast.walk(tree):
        target = key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            target, key = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        if (isinstance(target, ast.Name) and target.id in ("hv", "host_vars", "_v", "t")
                and isinstance(key, ast.Constant) and isinstance(key.value, str)):
            yield target.id, key.value, node.lineno


def test_every_literal_var_read_in_the_check_modules_is_declared_there() -> None:
    missing = []
    for path in sorted(CHECKS_DIR.glob("*.py")):
        group = path.stem.partition("_")[0]  # printers_windows.py, printers_common.py: the printers group's
        mine = [c for c in BUILTIN_CHECKS if type(c).__module__ == "rmmctl.checks.base"
                and getattr(c.rule, "__module__", "").rpartition(".")[2].partition("_")[0] == group]
        names = {n for c in mine for n in declared(c)}
        for who, key, line in _literal_reads(ast.parse(path.read_text())):
            if key not in names:
                missing.append(f"{path.name}:{line} {who}[{key!r}]")
    assert missing == []


def test_list_shows_every_declared_var_with_its_default() -> None:
    doc = json.loads(CliRunner().invoke(app, ["diagnose", "--list", "--json"]).stdout)
    rows = {r["id"]: r for r in doc["checks"]}
    for check in CHECKS.all():
        assert rows[check.id]["thresholds"] == dict(check.thresholds)
        assert rows[check.id]["vars"] == dict(getattr(check, "vars", {}))
    assert rows["time.unsynchronized"]["vars"] == {"time_service_required": True}
    assert rows["backup.freshness"]["vars"] == {"backup_paths": []}
    assert rows["printers.raw_queue"]["vars"] == {"printer_models": {}}
    assert rows["logs.segfault"]["vars"] == {"logs_window_hours": 24}
    table = CliRunner().invoke(app, ["diagnose", "--list"], env={"COLUMNS": "400"}).stdout
    for text in ("time_service_required=true", "backup_paths=[]", "printer_models={}", "print_server=false",
                 "logs_window_hours=24", "clamav_db_dir=unset", "writable_mounts=[]", "disk_warn_pct=85"):
        assert text in table
    csv = CliRunner().invoke(app, ["diagnose", "--list", "-o", "csv"]).stdout
    assert "time_service_required=true" in csv


def test_the_docs_table_shows_them() -> None:
    doc = (ROOT / "docs" / "diagnose.md").read_text()
    for text in ("`time_service_required` = true", "`backup_paths` = []", "`printer_models` = {}",
                 "`logs_window_hours` = 24", "`clamav_db_dir` = unset"):
        assert text in doc
