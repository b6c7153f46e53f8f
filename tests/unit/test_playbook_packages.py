"""package_update's pure parts: apt simulation rows, security origins, the lock line, dnf/yum plans,
version diffs, selection (security, exclude globs) and the one-line summary.

apt outputs are real: captured from apt 2.6.1 here against the test repository (tests/aptlab.py), and
apt's own multi-origin row format. dnf and yum cannot run on this Debian machine: their inputs are the
probe's check-update fixture (tests/fixtures/probes/updates/dnf-check-update.txt) and rpm's --qf output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import rmmctl
from rmmctl.checks.disk import disk_rule
from rmmctl.playbooks.load import load_playbook
from rmmctl.playbooks.modules import ArgProblem, lookup, normalize_args
from rmmctl.playbooks.posix_packages import (
    diff_versions,
    is_security_origin,
    lock_holder,
    parse_apt_removals,
    parse_apt_sim,
    parse_dnf_plan,
    parse_kept_back,
    parse_versions,
    rpm_version,
    select,
    summary,
)
from rmmctl.probes.linux.bundle import split_parts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probes" / "updates"

APT_SIM = """\
Reading package lists...
Building dependency tree...
Reading state information...
Calculating upgrade...
The following NEW packages will be installed:
  linux-image-6.1.0-28-amd64
The following packages have been kept back:
  held-one held-two
The following packages will be upgraded:
  libc6 rmmtest-a rmmtest-b
3 upgraded, 1 newly installed, 0 to remove and 2 not upgraded.
Inst rmmtest-a [1.0] (1.1 Lab:lab [all])
Inst rmmtest-b [1.0] (1.1 Lab:lab-security [all])
Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable, Debian-Security:12/stable-security [amd64]) []
Inst linux-image-6.1.0-28-amd64 (6.1.119-1 Debian-Security:12/stable-security [amd64])
Conf rmmtest-a (1.1 Lab:lab [all])
Conf rmmtest-b (1.1 Lab:lab-security [all])
"""


def test_apt_simulation_rows_with_versions_and_security() -> None:
    rows = parse_apt_sim(APT_SIM)
    assert [(r["name"], r["from"], r["to"], r["security"]) for r in rows] == [
        ("rmmtest-a", "1.0", "1.1", False), ("rmmtest-b", "1.0", "1.1", True),
        ("libc6", "2.36-9+deb12u3", "2.36-9+deb12u4", True), ("linux-image-6.1.0-28-amd64", None, "6.1.119-1", True)]
    assert rows[2]["origins"] == ["Debian:12.5/stable", "Debian-Security:12/stable-security"]
    assert parse_kept_back(APT_SIM) == ["held-one", "held-two"]


def test_security_origins() -> None:
    assert is_security_origin("Debian-Security:12/stable-security")
    assert is_security_origin("Ubuntu:22.04/jammy-security")
    assert is_security_origin("Lab:lab-security")
    assert not is_security_origin("Debian:12.5/stable") and not is_security_origin("Ubuntu:22.04/jammy-updates")


def test_removals_simulated_and_real() -> None:
    text = "Remv old-lib [1.2-3]\nRemoving other-lib (4.5) ...\nRemv bare\n"
    assert parse_apt_removals(text) == [{"name": "old-lib", "from": "1.2-3", "to": None},
                                        {"name": "other-lib", "from": "4.5", "to": None},
                                        {"name": "bare", "from": None, "to": None}]


def test_lock_holder_from_apts_real_message() -> None:
    text = ("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 26486 (python3)\n"
            "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\n")
    assert lock_holder(text) == "/var/lib/dpkg/lock-frontend is held by process 26486 (python3)"
    old = "E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily unavailable)\n"
    assert lock_holder(old) == "/var/lib/dpkg/lock is held by another process"
    assert lock_holder("E: Unable to locate package nope") is None


def test_dnf_plan_joins_check_update_with_installed_versions() -> None:
    _, parts = split_parts((FIXTURES / "dnf-check-update.txt").read_text())
    installed = parse_versions("kernel.x86_64\t0:5.14.0-362.8.1.el9_3\nopenssl.x86_64\t1:3.0.7-24.el9\n"
                               "tzdata.noarch\t0:2023c-1.el9\n")
    plan = parse_dnf_plan(parts["check_update"].text, installed)
    assert [(p["name"], p["from"], p["to"]) for p in plan] == [
        ("kernel.x86_64", "5.14.0-362.8.1.el9_3", "5.14.0-427.13.1.el9_4"),
        ("openssl.x86_64", "1:3.0.7-24.el9", "1:3.0.7-27.el9"),
        ("python3-a-very-long-package-name-that-wraps.noarch", None, "2.1.0-3.el9"),
        ("tzdata.noarch", "2023c-1.el9", "2024a-1.el9")]
    assert rpm_version("0:1.2-3") == "1.2-3" and rpm_version("2:1.2-3") == "2:1.2-3"


def test_rpm_before_and_after_give_upgraded_new_and_removed() -> None:
    before = {"openssl.x86_64": "1:3.0.7-24.el9", "kernel.x86_64": "0:5.14.0-362", "gone.noarch": "0:1-1"}
    after = {"openssl.x86_64": "1:3.0.7-27.el9", "kernel.x86_64": "0:5.14.0-362", "new.noarch": "0:2-1"}
    changed, removed = diff_versions(before, after)
    assert changed == [{"name": "new.noarch", "from": None, "to": "2-1", "security": False},
                       {"name": "openssl.x86_64", "from": "1:3.0.7-24.el9", "to": "1:3.0.7-27.el9", "security": False}]
    assert removed == [{"name": "gone.noarch", "from": "1-1", "to": None}]


def test_selection_security_and_exclude_globs() -> None:
    plan = parse_apt_sim(APT_SIM)
    wanted, excluded = select(plan, security_only=False, exclude=["rmmtest-*"])
    assert [p["name"] for p in wanted] == ["libc6"] and [p["name"] for p in excluded] == ["rmmtest-a", "rmmtest-b"]
    wanted, excluded = select(plan, security_only=True, exclude=[])
    assert [p["name"] for p in wanted] == ["rmmtest-b", "libc6"] and excluded == []  # new packages: as deps
    dnf = [{"name": "kernel.x86_64", "from": "1", "to": "2", "security": False}]
    assert select(dnf, security_only=False, exclude=["kernel"])[1] == dnf  # name without .arch matches


def test_summary_names_the_first_five() -> None:
    rows = [{"name": f"p{i}", "from": "1", "to": "2"} for i in range(7)]
    assert summary("upgraded", rows[:1]) == "upgraded 1 package: p0 1 -> 2"
    assert summary("upgraded", rows) == ("upgraded 7 packages: p0 1 -> 2, p1 1 -> 2, p2 1 -> 2, p3 1 -> 2, "
                                         "p4 1 -> 2, and 2 more")
    assert summary("would upgrade", [{"name": "k", "from": None, "to": "6"}]) == "would upgrade 1 package: k (new) -> 6"


def test_arguments() -> None:
    spec = lookup("posix", "package_update")
    assert spec is not None and spec.check_mode == "plan"
    assert normalize_args(spec, {}, templated=True) == {"refresh": True, "security_only": False,
                                                        "autoremove": False, "exclude": None}
    assert normalize_args(spec, {"update_cache": "no", "exclude": "kernel*"}, templated=True)["exclude"] == ["kernel*"]
    with pytest.raises(ArgProblem, match="exclude"):
        normalize_args(spec, {"exclude": ["a\nb"]}, templated=True)
    with pytest.raises(ArgProblem, match="unknown argument"):
        normalize_args(spec, {"upgrade": "dist"}, templated=True)


SHIPPED = Path(rmmctl.__file__).parent / "data" / "playbooks"


def test_shipped_playbooks_load_and_their_headers() -> None:
    for name in ("security-updates", "disk-cleanup"):
        path = SHIPPED / f"{name}.yaml"
        lines = path.read_text().splitlines()
        assert lines[0].startswith(f"# {name}.yaml: ")
        assert any(ln.startswith("# What it does:") for ln in lines) and any(ln.startswith("# Safe for:") for ln in lines)
        assert any(ln.startswith("# Vars:") for ln in lines)
        load_playbook(path)  # validates every key, module and argument
    security = load_playbook(SHIPPED / "security-updates.yaml").plays[0]
    assert [t.module for t in security.tasks] == ["package_update"] and security.become


def test_the_disk_finding_and_disk_cleanup_agree_on_what_is_cleaned() -> None:
    """disk.space says "free space on MOUNT (old logs, caches, packages)" and names disk-cleanup: the
    playbook has a task for each (rotated logs, temp folders, the package cache of .deb/.rpm files)."""
    mount = {"mount": "/", "device": "/dev/vda", "used_pct": 97, "used_kb": 97, "size_kb": 100, "avail_kb": 3}
    thresholds = {"disk_warn_pct": 85, "disk_crit_pct": 95}
    (finding,) = list(disk_rule({"filesystems": {"mounts": [mount]}}, thresholds, {}))
    assert finding.playbook == "disk-cleanup" and "(old logs, caches, packages)" in finding.remediation
    play = load_playbook(SHIPPED / f"{finding.playbook}.yaml").plays[0]
    tasks = {t.name: t for t in play.tasks}
    assert set(tasks) == {"Old temp files", "Old rotated logs", "Package cache"}
    assert play.defaults["cleanup_paths"] == ["/tmp", "/var/tmp"] and play.defaults["cleanup_log_dir"] == "/var/log"
    assert tasks["Package cache"].args["patterns"] == ["*.deb", "*.rpm"]
    assert "/var/cache/apt/archives" in play.defaults["cleanup_cache_paths"]
