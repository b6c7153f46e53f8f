"""handlers/notify, require, `facts` in templates and the facts and assert modules, on the real sshd fleet:
a handler runs once per host however many tasks notify it, only when one changed, never on a failed host;
require skips a host with the condition; facts are probed once (only the sections read) before the first
task; the facts module re-probes after a change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from conftest import cli
from fleet import Fleet

HANDLERS_PLAY = """\
hosts: all
tasks:
  - name: conf a
    copy: {{dest: "{dir}/{{{{ inventory_hostname }}}}.a", content: "a\\n"}}
    notify: restart app
  - name: conf b
    copy: {{dest: "{dir}/{{{{ inventory_hostname }}}}.b", content: "b\\n"}}
    notify: [restart app]
  - name: only fleet-01 goes on
    command: test {{{{ inventory_hostname }}}} = fleet-01
    changed_when: false
handlers:
  - name: restart app
    shell: echo restarted >> {dir}/{{{{ inventory_hostname }}}}.restarts
    notify: never notified twice
  - name: not notified
    command: echo never
  - name: never notified twice
    command: echo after restart
"""


def setup(fleet: Fleet, tmp_path: Path, text: str, hosts: list[int], **host_vars: dict[str, Any]) -> tuple[Path, Path]:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    if host_vars:
        doc = yaml.safe_load(inv.read_text())
        for name, values in host_vars.items():
            doc["hosts"][name]["vars"] = values
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    book = tmp_path / "play.yaml"
    book.write_text(text)
    return inv, book


def play(inv: Path, book: Path, *args: str) -> Any:
    return cli("play", str(book), *args, "-i", str(inv))


def hosts_of(result: Any) -> dict[str, Any]:
    return {h["name"]: h for h in json.loads(result.stdout)["hosts"]}


def summary(host: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(t["name"], t["status"], t.get("handler", False)) for t in host["data"]["tasks"]]


def test_a_handler_runs_once_when_notified_by_changes_and_never_on_a_failed_host(fleet: Fleet, env: dict[str, str],
                                                                               tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    inv, book = setup(fleet, tmp_path, HANDLERS_PLAY.format(dir=files), [1, 2])
    dry = play(inv, book, "--check", "-o", "json")  # would change: the handler runs in check mode (shell: skip)
    assert dry.exit_code == 0 and sorted(p.name for p in files.iterdir()) == []
    for host in hosts_of(dry).values():  # the command is skipped in check mode, so fleet-02 goes on too
        assert summary(host)[2:] == [("only fleet-01 goes on", "skipped", False), ("restart app", "skipped", True)]
        assert host["data"]["tasks"][3]["message"].startswith("skipped in check mode")

    first = play(inv, book, "--yes", "-o", "json")
    assert first.exit_code == 5  # fleet-02 failed
    hosts = hosts_of(first)
    assert summary(hosts["fleet-01"]) == [
        ("conf a", "changed", False), ("conf b", "changed", False), ("only fleet-01 goes on", "ok", False),
        ("restart app", "changed", True), ("never notified twice", "changed", True)]
    assert hosts["fleet-01"]["data"]["recap"] == {"ok": 1, "changed": 4, "failed": 0, "skipped": 0, "ignored": 0}
    assert (files / "fleet-01.restarts").read_text() == "restarted\n"  # two notifications, one run
    failed = hosts["fleet-02"]
    assert failed["status"] == "failed" and [t["status"] for t in failed["data"]["tasks"]] == ["changed", "changed",
                                                                                            "failed"]
    assert not (files / "fleet-02.restarts").exists()  # a failed host runs no handler (Ansible's default)

    second = play(inv, book, "--yes", "-o", "json", "-l", "fleet-01")
    assert second.exit_code == 0
    assert summary(hosts_of(second)["fleet-01"]) == [
        ("conf a", "ok", False), ("conf b", "ok", False), ("only fleet-01 goes on", "ok", False)]
    assert (files / "fleet-01.restarts").read_text() == "restarted\n"  # nothing changed: not run again

    (files / "fleet-01.b").write_text("drifted\n")
    table = play(inv, book, "--yes", "-l", "fleet-01")
    assert table.exit_code == 0 and "restart app" in table.stdout
    assert (files / "fleet-01.restarts").read_text() == "restarted\nrestarted\n"


def test_require_skips_a_host_with_the_false_condition(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    text = f"""\
hosts: all
require:
  - (facts.filesystems.mounts | selectattr('mount', 'eq', '/') | first).avail_kb > 1000
  - facts.host.hostname != 'fleet-02'
tasks:
  - copy: {{dest: "{marks}/{{{{ inventory_hostname }}}}", content: "ran\\n"}}
"""
    inv, book = setup(fleet, tmp_path, text, [1, 2])
    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    hosts = hosts_of(result)
    assert hosts["fleet-01"]["status"] == "changed"
    skipped = hosts["fleet-02"]
    assert skipped["status"] == "skipped" and skipped["data"]["tasks"] == []
    assert skipped["data"]["skip_reason"] == "require false: facts.host.hostname != 'fleet-02'"
    assert sorted(p.name for p in marks.iterdir()) == ["fleet-01"]  # no task ran on fleet-02
    table = play(inv, book, "--yes")
    row = next(line for line in table.stdout.splitlines() if "fleet-02" in line and "│" in line)
    assert "skipped: require false: facts.host.hostname" in row
    audit = json.loads(cli("history", "audit", "--json").stdout)["audit"]
    probes = [a["detail"] for a in audit if a["host"] == "fleet-02" and a["detail"].startswith("probe")]
    assert probes == ["probe: host filesystems"] * 2  # one exec per run, only the sections read


def test_facts_in_when_assert_and_the_facts_module_refreshing(fleet: Fleet, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    backups = {name: tmp_path / name for name in ("fleet-01", "fleet-02")}
    for folder in backups.values():
        folder.mkdir()
    text = """\
hosts: all
tasks:
  - name: only on fleet-01
    command: echo {{ facts.host.hostname }}
    when: facts.host.hostname == 'fleet-01'
  - name: no backup yet
    assert:
      that: facts.backup.paths[0].files == 0
      fail_msg: "{{ inventory_hostname }} already has {{ facts.backup.paths[0].files }} file(s)"
  - name: make one
    copy: {dest: "{{ backup_paths[0] }}/today.tar", content: "x\\n"}
  - name: still the old facts
    assert: {that: "facts.backup.paths[0].files == 0", quiet: true}
  - name: look again
    facts: {sections: [backup]}
    register: fresh
  - name: the new facts
    assert:
      that: ["facts.backup.paths[0].files == 1", "fresh.backup.paths[0].newest.endswith('/today.tar')"]
      success_msg: "backup {{ facts.backup.paths[0].newest }}"
"""
    inv, book = setup(fleet, tmp_path, text, [1, 2],
                      **{name: {"backup_paths": [str(folder)]} for name, folder in backups.items()})
    (backups["fleet-02"] / "old.tar").write_text("old\n")
    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 5, result.output
    hosts = hosts_of(result)
    one = hosts["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in one] == ["changed", "ok", "changed", "ok", "ok", "ok"]
    assert one[0]["data"]["stdout"] == "fleet-01\n"
    assert (one[3]["message"], one[4]["message"]) == ("", "probed backup")
    assert one[4]["data"]["backup"]["paths"][0]["files"] == 1
    assert one[5]["message"] == f"backup {backups['fleet-01']}/today.tar"
    two = hosts["fleet-02"]
    assert [t["status"] for t in two["data"]["tasks"]] == ["skipped", "failed"]
    assert two["data"]["failed_task"] == {"name": "no backup yet", "line": 6,
                                          "message": "fleet-02 already has 1 file(s)"}
    assert two["data"]["tasks"][1]["data"] == {"assertion": "facts.backup.paths[0].files == 0", "evaluated_to": False}
    assert not (backups["fleet-02"] / "today.tar").exists()

    dry = play(inv, book, "--check", "-o", "json", "-l", "fleet-01")  # assert and facts run in check mode too
    assert dry.exit_code == 5
    tasks = hosts_of(dry)["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in tasks] == ["skipped", "failed"]
    assert tasks[1]["message"] == "fleet-01 already has 1 file(s)"
    audit = json.loads(cli("history", "audit", "--json").stdout)["audit"]
    probes = [a["detail"] for a in audit if a["host"] == "fleet-01" and a["detail"].startswith("probe")]
    assert sorted(probes) == ["probe: backup"] + ["probe: host backup"] * 2


def test_an_assert_only_play_needs_no_yes(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    text = "hosts: all\ntasks:\n  - assert: {that: \"facts.os.family == 'linux'\", success_msg: linux}\n"
    inv, book = setup(fleet, tmp_path, text, [1])
    result = play(inv, book, "-o", "json")  # no terminal, no --yes: nothing can change, so it runs
    assert result.exit_code == 0, result.output
    assert hosts_of(result)["fleet-01"]["data"]["tasks"][0]["message"] == "linux"
