"""`rmmctl diagnose --fix` end to end on real sshd hosts: a really full disk fixed by the shipped
disk-cleanup playbook, the plan in check mode changing nothing, consent without a terminal, findings no
playbook fixes, the before/after table, the JSON document and the one history run of kind `fix`.

fix-01  a 100%-full tmpfs on /srv/data whose fill file is aged 30 days: disk.space critical, and
        cleanup_paths [/srv/data] with cleanup_older_than_days 7 (inventory vars) lets disk-cleanup free it
fix-02  /srv read-only while writable_mounts names it: disk.readonly critical, which no playbook fixes

Only the disk checks run (`-c disk`): the other shipped playbooks (updates, reboots) must never run on
these hosts, which share this machine's filesystem. Every other host's cleanup_paths is a decoy folder.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet
from test_diagnose import validate

QUIET = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}


@pytest.fixture(scope="module")
def fix_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    require_fleet()
    from rmmctl.fix import playbook_path
    from rmmctl.playbooks import load_playbook

    shipped = playbook_path("disk-cleanup")
    assert shipped is not None, "src/rmmctl/data/playbooks/disk-cleanup.yaml is missing"
    (play,) = load_playbook(shipped).plays
    clash = sorted({"cleanup_paths", "cleanup_older_than_days"} & set(play.vars))
    if clash:  # play vars beat inventory vars: the test's paths would be ignored and this machine's /tmp cleaned
        pytest.fail(f"{shipped}: play vars {clash} would override the inventory's; give defaults with "
                    "`{{ cleanup_paths | default([...]) }}` in the task instead", pytrace=False)
    work = tmp_path_factory.mktemp("fix")
    decoy = work / "decoy"
    decoy.mkdir()
    (decoy / "keep.log").write_text("must stay\n")
    log = {"syslog": "Dec  1 04:00:00 fix cron[12]: (root) CMD (true)\n"}  # /var/log is a tmpfs of the host's own
    specs = {"fix-01": FixtureSpec(fulldisk="2m", proc=QUIET, log=log),
             "fix-02": FixtureSpec(readonly=True, proc=QUIET, log=log)}
    with Fleet(work / "fleet", prefix="fix") as fleet:
        fleet.start(2, specs)
        inv = fleet.write_inventory(work / "inventory.yaml", extra={
            "defaults": {"vars": {"cleanup_paths": [str(decoy)], "cleanup_older_than_days": 7,
                                  "cleanup_package_cache": False, "cleanup_cache_paths": [str(decoy)]}}})
        doc = yaml.safe_load(inv.read_text())
        doc["hosts"]["fix-01"]["vars"] = {"cleanup_paths": ["/srv/data"]}
        doc["hosts"]["fix-02"]["vars"] = {"writable_mounts": ["/srv"]}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield fleet, inv, decoy


def _fill(inv: Path, env: dict[str, str]) -> None:
    """Fill /srv/data on fix-01 again with a file 30 days old (the fix removes it)."""
    result = cli("run", "fix-01", "-i", str(inv), "--", "sh", "-c",
                 "dd if=/dev/zero of=/srv/data/fill bs=64k 2>/dev/null; touch -d '30 days ago' /srv/data/fill; "
                 "df -P /srv/data | tail -1")
    assert result.exit_code == 0, result.output


def fix(inv: Path, *args: str) -> Any:
    return cli("diagnose", "-i", str(inv), "-c", "disk", "--fix", *args)


def test_without_a_terminal_fix_needs_yes_and_changes_nothing(fix_fleet: tuple[Fleet, Path, Path],
                                                              env: dict[str, str]) -> None:
    _, inv, _ = fix_fleet
    _fill(inv, env)
    result = fix(inv)
    assert result.exit_code == 2, result.output
    assert "--yes" in result.stderr and len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    probe = cli("run", "fix-01", "-i", str(inv), "--", "ls", "/srv/data")
    assert probe.stdout.count("fill") == 1  # nothing was changed
    assert cli("diagnose", "-i", str(inv), "--yes").exit_code == 2  # --yes needs --fix


def test_dry_run_shows_the_plan_and_changes_nothing(fix_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    _, inv, decoy = fix_fleet
    _fill(inv, env)
    result = fix(inv, "--dry-run")
    assert result.exit_code == 5, result.output  # the findings are still there: diagnose's exit code
    out = result.stdout
    assert "playbook disk-cleanup on 1 host(s) (check mode):" in out
    assert "fix-01: Old temp files: would remove 1 file(s)" in out
    assert "fix-02 disk.readonly" in out and "(no playbook fixes this)" in out
    doc = json.loads(fix(inv, "--dry-run", "-o", "json").stdout)
    validate(doc, "diagnose.schema.json#/$defs/fix")
    assert doc["command"] == "diagnose --fix" and doc["check_mode"] is True and doc["after"] is None
    [play] = doc["plays"]
    assert play["playbook"] == "disk-cleanup" and play["hosts"] == ["fix-01"] and play["ran"] is False
    assert play["plan"]["fix-01"][0]["module"] == "cleanup"
    probe = cli("run", "fix-01", "-i", str(inv), "--", "ls", "/srv/data")
    assert "fill" in probe.stdout and (decoy / "keep.log").exists()  # check mode removed nothing
    quiet = fix(inv, "--dry-run", "--quiet")  # cron: no table; the problem hosts and the summary on stderr
    assert (quiet.exit_code, quiet.stdout) == (5, "")
    lines = quiet.stderr.splitlines()
    assert lines[-1].startswith("rmmctl: diagnose --fix: 2 hosts: ") and lines[-1].endswith(" (exit 5)"), quiet.stderr
    assert sorted(lines[:-1])[0].startswith("rmmctl: fix-01: crit: disk.space: ")  # the worst finding, named
    assert sorted(lines[:-1])[1].startswith("rmmctl: fix-02: crit: disk.readonly: ")
    assert len(lines) == 3


def test_fix_runs_the_playbook_and_rediagnoses(fix_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    _, inv, decoy = fix_fleet
    _fill(inv, env)
    result = fix(inv, "--yes", "-o", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 5, result.stderr  # fix-02's read-only /srv remains (critical)
    validate(doc, "diagnose.schema.json#/$defs/fix")
    before = {h["name"]: h for h in doc["before"]["hosts"]}
    assert any(f["check_id"] == "disk.space" and f["playbook"] == "disk-cleanup"
               for f in before["fix-01"]["data"]["findings"])
    [play] = doc["plays"]
    assert play["ran"] and play["hosts"] == ["fix-01"] and play["recap"]["fix-01"]["changed"] == 1
    assert [h["name"] for h in doc["after"]["hosts"]] == ["fix-01"]  # only the fixed host is diagnosed again
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert hosts["fix-01"]["status"] == "ok" and hosts["fix-01"]["data"]["findings"] == []
    assert hosts["fix-02"]["status"] == "crit"
    rows = {(r["host"], r["check_id"]): r for r in doc["findings"]}
    assert rows[("fix-01", "disk.space")]["before"] == "critical" and rows[("fix-01", "disk.space")]["after"] is None
    assert rows[("fix-02", "disk.readonly")]["after"] == "critical"
    assert [u["check_id"] for u in doc["unfixable"]] == ["disk.readonly"]
    assert doc["summary"]["exit_code"] == 5 and (decoy / "keep.log").exists()

    runs = sqlite3.connect(env["RMMCTL_DB"]).execute(
        "SELECT id, command, exit_code FROM runs ORDER BY id").fetchall()
    fixes = [r for r in runs if r[1] == "fix"]
    assert len(fixes) == 1 and fixes[0][2] == 5  # one run of kind fix (the `run` calls are their own)
    history = json.loads(cli("history", "findings", "fix-01", "-o", "json").stdout)["findings"]
    [disk] = [f for f in history if f["check_id"] == "disk.space"]
    assert disk["state"] == "resolved" and disk["resolved_run_id"] == fixes[0][0]
    audit = json.loads(cli("history", "audit", "--run", str(fixes[0][0]), "-n", "200", "-o", "json").stdout)["audit"]
    assert any("cleanup" in a["detail"] for a in audit if a["host"] == "fix-01")  # the play's actions are audited

    again = fix(inv, "--yes")  # nothing left that a playbook fixes: no play runs
    assert again.exit_code == 5
    assert "Nothing to fix" in again.stdout and "no playbook fixes this" in again.stdout


def test_table_shows_the_plays_and_before_after(fix_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    _, inv, _ = fix_fleet
    _fill(inv, env)
    result = fix(inv, "--yes", "--fail-on", "critical")
    assert result.exit_code == 5, result.output
    out = result.stdout
    assert "playbook disk-cleanup:" in out and "fix-01 changed (ok 1, changed 1, skipped 1)" in out
    line = next(x for x in out.splitlines() if "fix-01" in x and "disk.space" in x)
    assert "critical" in line and "gone" in line
    line = next(x for x in out.splitlines() if "fix-02" in x and "disk.readonly" in x)
    assert "no playbook fixes this" in line
    assert cli("diagnose", "-i", str(inv), "--fix", "-o", "ndjson", "--yes").exit_code == 2


def _on_a_terminal(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """rmmctl with stdin, stdout and stderr on a pseudo-terminal; `answer` typed once the question shows."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    import rmmctl

    master, slave = pty.openpty()
    src = str(Path(rmmctl.__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-m", "rmmctl", *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, **env, "PYTHONPATH": src, "COLUMNS": "200", "NO_COLOR": "1"},
                            close_fds=True)
    os.close(slave)
    out, answered, deadline = b"", False, time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not answered and b"[y/N]" in out:
            os.write(master, answer)
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace")).replace("\r\n", "\n")
    return proc.wait(timeout=10), text


def test_on_a_terminal_fix_shows_the_plan_and_asks_once(fix_fleet: tuple[Fleet, Path, Path],
                                                         env: dict[str, str]) -> None:
    _, inv, _ = fix_fleet
    _fill(inv, env)
    args = ["diagnose", "-i", str(inv), "-c", "disk", "--fix"]
    code, out = _on_a_terminal(args, env, b"n\n")
    assert code == 2 and out.count("[y/N]") == 1, out
    assert "fix-01: Old temp files: would remove 1 file(s)" in out and "not confirmed; nothing was changed" in out
    assert "fill" in cli("run", "fix-01", "-i", str(inv), "--", "ls", "/srv/data").stdout
    code, out = _on_a_terminal(args, env, b"y\n")
    assert code == 5 and out.count("[y/N]") == 1, out
    line = next(x for x in out.splitlines() if "fix-01" in x and "disk.space" in x)
    assert "gone" in line
    assert "fill" not in cli("run", "fix-01", "-i", str(inv), "--", "ls", "/srv/data").stdout
