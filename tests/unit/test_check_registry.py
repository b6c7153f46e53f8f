"""Third-party checks arrive through a real `rmmctl.checks` entry point (a dist-info on sys.path)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from rmmctl.checks.base import Finding, Severity
from rmmctl.checks.catalog import BUILTIN_CHECKS
from rmmctl.checks.registry import GROUP, PluginError, Registry, run_checks, sections_for
from rmmctl.errors import ConfigError

PLUGIN = '''
from rmmctl.checks.base import Finding, Severity

class BackupAge:
    id = "acme.backup_age"
    title = "ACME backup agent reports a stale backup"
    sections = ("filesystems",)
    thresholds = {"acme_backup_max_days": 2.0}

    @staticmethod
    def evaluate(facts, thresholds, host_vars):
        if host_vars.get("acme_last_backup_days", 0) > thresholds["acme_backup_max_days"]:
            yield Finding("acme.backup_age", Severity.WARNING, "backup is old", ("agent says so",), "run it")

backup_age = BackupAge()
dup = type("Dup", (), {"id": "disk.space", "title": "x", "sections": (), "thresholds": {},
                       "evaluate": staticmethod(lambda f, t, v: ())})()
'''


def install_plugin(root: Path, entries: str) -> None:
    (root / "acme_checks.py").write_text(PLUGIN)
    dist = root / "acme_checks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-checks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{entries}")


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("acme_checks", None)


def test_an_entry_point_check_registers_and_runs(plugin_path: Path) -> None:
    install_plugin(plugin_path, "acme.backup_age = acme_checks:backup_age\n")
    registry = Registry(GROUP, BUILTIN_CHECKS)
    [check] = registry.select(["acme"])
    assert check.id == "acme.backup_age" and registry.all()[0].id == BUILTIN_CHECKS[0].id  # built-ins first
    assert sections_for([check]) == ("filesystems",)
    [finding] = run_checks([check], {}, {"acme_last_backup_days": 5})
    assert finding.severity is Severity.WARNING
    assert run_checks([check], {}, {"acme_last_backup_days": 5, "acme_backup_max_days": 9}) == []


def test_a_duplicate_id_is_refused(plugin_path: Path) -> None:
    install_plugin(plugin_path, "dup = acme_checks:dup\n")
    with pytest.raises(PluginError, match="disk.space.*already registered"):
        Registry(GROUP, BUILTIN_CHECKS).all()


def test_a_broken_plugin_is_reported_and_skipped(plugin_path: Path, caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger("rmmctl"), "propagate", True)  # a CLI test may have set up logging
    install_plugin(plugin_path, "broken = acme_checks:no_such_name\n")
    with caplog.at_level(logging.WARNING, logger="rmmctl.checks.registry"):
        checks = Registry(GROUP, BUILTIN_CHECKS).all()
    assert [c.id for c in checks] == [c.id for c in BUILTIN_CHECKS]
    assert "broken" in caplog.text and "skipped" in caplog.text


def test_unknown_names_are_config_errors_listing_groups() -> None:
    registry = Registry(GROUP, BUILTIN_CHECKS)
    with pytest.raises(ConfigError, match="unknown check or group 'nope'.*printers"):
        registry.select(["nope"])
    assert {c.id.split(".")[0] for c in registry.select(["printers", "disk.space"])} == {"printers", "disk"}


def test_a_finding_is_plain_data() -> None:
    f = Finding("x.y", Severity.CRITICAL, "t", ("e",), "r")
    assert f.to_dict() == {"check_id": "x.y", "severity": "critical", "title": "t", "evidence": ["e"],
                           "remediation": "r", "playbook": None}
