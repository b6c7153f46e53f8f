"""Every `Finding.playbook` a built-in check can produce names a shipped playbook, and that playbook exists.

Read from the source with ast: each `Finding(...)` in src/rmmctl/checks/*.py gives its playbook as a
literal (the 6th argument or `playbook=`; a module constant such as printers.REPAIR counts), and the
check that owns the module declares exactly those names in its `playbooks` (what docs/diagnose.md shows).

NOTE for the lead: `test_every_finding_playbook_is_shipped` fails until every playbook in
checks.base.PLAYBOOK_NAMES is merged into src/rmmctl/data/playbooks/ (it names the missing ones).
"""

from __future__ import annotations

import ast
from pathlib import Path

import rmmctl
from rmmctl.checks.base import PLAYBOOK_NAMES
from rmmctl.checks.catalog import CHECKS
from rmmctl.playbooks import load_playbook

CHECKS_DIR = Path(rmmctl.__file__).parent / "checks"
SHIPPED = Path(rmmctl.__file__).parent / "data" / "playbooks"
CONTRACT = {"disk-cleanup", "os-updates", "security-updates", "reboot-if-required", "printer-repair", "av-update",
            "backup-verify", "trim",  # issue 8: the names Finding.playbook may use
            "windows-updates", "windows-spooler-repair", "windows-printer-driver", "windows-maintenance"}  # issue 9


def _constants(tree: ast.Module) -> dict[str, str]:
    return {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for t in node.targets if isinstance(t, ast.Name)}


def produced() -> dict[str, set[str]]:
    """Check-id group (module name) -> every playbook name a Finding(...) in that module can carry."""
    out: dict[str, set[str]] = {}
    for path in sorted(CHECKS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        consts = _constants(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding"):
                continue
            arg = next((k.value for k in node.keywords if k.arg == "playbook"), None)
            if arg is None and len(node.args) > 5:
                arg = node.args[5]
            if arg is None or (isinstance(arg, ast.Constant) and arg.value is None):
                continue
            if isinstance(arg, ast.Name) and arg.id in consts:
                value = consts[arg.id]
            else:
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                    f"{path.name}:{node.lineno}: Finding.playbook must be a literal name (or a module constant)")
                value = arg.value
            out.setdefault(path.stem.partition("_")[0], set()).add(value)  # printers_windows.py: group printers
    return out


def test_the_names_are_the_contract() -> None:
    assert set(PLAYBOOK_NAMES) == CONTRACT


def test_findings_name_only_contract_playbooks_and_checks_declare_them() -> None:
    found = produced()
    assert found, "no Finding(...) with a playbook found: the ast scan is broken"
    for group, names in found.items():
        assert names <= CONTRACT, f"checks/{group}.py: findings name {sorted(names - CONTRACT)}, not shipped names"
        declared = {b for c in CHECKS.all() if c.id.split(".")[0] == group for b in getattr(c, "playbooks", ())}
        assert declared == names, f"checks/{group}.py: checks declare {sorted(declared)}, findings name {sorted(names)}"
    for check in CHECKS.all():
        assert set(getattr(check, "playbooks", ())) <= CONTRACT, check.id
    assert {"disk-cleanup", "os-updates", "security-updates", "reboot-if-required", "printer-repair", "av-update",
            "backup-verify"} <= set().union(*found.values())  # no trim check exists (yet): nothing names trim


def test_every_finding_playbook_is_shipped() -> None:
    """Fails loudly (no xfail) until every playbook findings name is merged: it lists the missing files."""
    named = set().union(*produced().values()) | {b for c in CHECKS.all() for b in getattr(c, "playbooks", ())}
    missing = sorted(n for n in named if not (SHIPPED / f"{n}.yaml").is_file())
    assert not missing, (f"findings name playbooks that are not shipped in {SHIPPED}: {missing} "
                         f"(expected all of checks.base.PLAYBOOK_NAMES once the playbooks branches are merged)")
    for name in sorted(named):
        book = load_playbook(SHIPPED / f"{name}.yaml")  # valid: loads without a ConfigError
        first = (SHIPPED / f"{name}.yaml").read_text().splitlines()[0]
        assert first.startswith(f"# {name}.yaml: "), f"{name}.yaml: line 1 must be '# {name}.yaml: description.'"
        assert len(book.plays) == 1
