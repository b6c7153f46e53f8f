"""`rmmctl play` on the real sshd fleet: check mode changes nothing (hashes on disk), real runs change
then settle (idempotent), templated values stay data, failures stop only their host, consent without a
terminal, exit codes through errors.exit_code_for."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import yaml

from conftest import cli
from fleet import Fleet

HOSTS = [1, 2, 3]
NAMES = [f"fleet-{i:02d}" for i in HOSTS]

FILES_PLAY = """\
name: Files
hosts: all
vars:
  conf: "{{ dir }}/{{ inventory_hostname }}.conf"
tasks:
  - name: config file
    copy:
      dest: "{{ conf }}"
      content: "legacy=1\\nport=80\\nname={{ inventory_hostname }}\\n"
      mode: "0640"
  - name: ini port line
    lineinfile: {path: "{{ dir }}/{{ inventory_hostname }}.ini", regexp: "^port=", line: "port=8080", create: true}
  - name: old line gone
    lineinfile: {path: "{{ conf }}", regexp: "^legacy", state: absent}
  - name: new line
    lineinfile: {path: "{{ conf }}", line: "managed=yes"}
"""


def setup(fleet: Fleet, tmp_path: Path, play: str, hosts: list[int] = HOSTS, **more: Any) -> tuple[Path, Path]:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    if more:
        doc = yaml.safe_load(inv.read_text())
        doc["hosts"].update(more)
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    book = tmp_path / "play.yaml"
    book.write_text(play)
    return inv, book


def hashes(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode & 0o7777)
            for p in sorted(folder.iterdir())}


def play(inv: Path, book: Path, *args: str) -> Any:
    return cli("play", str(book), *args, "-i", str(inv))


def doc(result: Any) -> dict[str, Any]:
    return {h["name"]: h for h in json.loads(result.stdout)["hosts"]}


def test_check_mode_changes_nothing_then_a_run_changes_then_settles(fleet: Fleet, env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "fleet-02.conf").write_text("port=80\nname=fleet-02\nmanaged=yes\n")  # exists, differs
    (files / "fleet-02.conf").chmod(0o600)
    (files / "fleet-02.ini").write_text("[main]\nport=80\n")
    inv, book = setup(fleet, tmp_path, FILES_PLAY)
    before = hashes(files)
    dry = play(inv, book, "--check", "--diff", "-e", f"dir={files}", "-o", "json")
    assert dry.exit_code == 0, dry.output
    assert hashes(files) == before  # byte for byte, modes too; the other hosts' files still absent
    hosts = doc(dry)
    two = hosts["fleet-02"]["data"]["tasks"]
    assert [t["status"] for t in two] == ["changed", "changed", "changed", "changed"]
    assert all("check mode" in t["message"] for t in two[:3])
    assert "+legacy=1\n" in two[0]["diff"] and "-managed=yes\n" in two[0]["diff"]
    assert "-port=80\n+port=8080\n" in two[1]["diff"]
    # each plan builds on the one before: the copy would write legacy=1, which the next task plans away
    assert "-legacy=1\n" in two[2]["diff"]
    one = hosts["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in one] == ["changed", "changed", "changed", "changed"]  # planned, not read
    assert one[0]["diff"].startswith("--- /dev/null\n+++ after: ")
    assert one[3]["diff"].endswith(" name=fleet-01\n+managed=yes\n")

    real = play(inv, book, "--yes", "--diff", "-e", f"dir={files}")
    assert real.exit_code == 0, real.output
    for name in NAMES:
        conf, ini = files / f"{name}.conf", files / f"{name}.ini"
        assert conf.read_text() == f"port=80\nname={name}\nmanaged=yes\n"
        assert conf.stat().st_mode & 0o7777 == 0o640
        assert ini.read_text() == ("[main]\nport=8080\n" if name == "fleet-02" else "port=8080\n")
    assert "-port=80" in real.stdout and "+port=8080" in real.stdout and "recap" in real.stdout

    again = play(inv, book, "--yes", "-e", f"dir={files}", "-o", "json")
    assert again.exit_code == 0
    for host in doc(again).values():  # the copy and the edits after it undo each other every time
        assert [t["status"] for t in host["data"]["tasks"]] == ["changed", "ok", "changed", "changed"]
    copy_only = tmp_path / "copy.yaml"
    copy_only.write_text(FILES_PLAY.replace("legacy=1\\n", "").split("  - name: old line gone")[0])
    assert play(inv, copy_only, "--yes", "-e", f"dir={files}").exit_code == 0
    settled_run = play(inv, copy_only, "--yes", "-e", f"dir={files}", "-o", "json")
    for host in doc(settled_run).values():
        assert host["status"] == "ok"
        assert host["data"]["recap"] == {"ok": 2, "changed": 0, "failed": 0, "skipped": 0, "ignored": 0}
    settled = hashes(files)
    assert play(inv, book, "--check", "-e", f"dir={files}").exit_code == 0
    assert hashes(files) == settled


def test_a_templated_value_is_data_in_every_module_but_shell(fleet: Fleet, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    evil = {m: f"$(touch {marks}/{m}); touch {marks}/{m}2 `touch {marks}/{m}3`"
            for m in ("command", "copy", "lineinfile", "shell")}
    text = f"""\
hosts: all
tasks:
  - command: echo {{{{ evil_command }}}}
    register: echoed
  - copy: {{dest: "{tmp_path}/{{{{ inventory_hostname }}}}-{{{{ name }}}}", content: "{{{{ evil_copy }}}}"}}
  - lineinfile: {{path: "{tmp_path}/{{{{ inventory_hostname }}}}-{{{{ name }}}}", line: "{{{{ evil_lineinfile }}}}"}}
  - shell: "echo {{{{ evil_shell }}}}"
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    name = "x$(cd; touch pwned)`cd; touch pwned2`;cd;touch pwned3"  # no slash: a file name; run, it marks $HOME
    args = [a for m, v in evil.items() for a in ("-e", f"evil_{m}={v}")] + ["-e", f"name={name}"]
    result = play(inv, book, "--yes", *args, "-o", "json")
    assert result.exit_code == 0, result.output
    tasks = doc(result)["fleet-01"]["data"]["tasks"]
    assert tasks[0]["data"]["stdout"].strip() == evil["command"]  # echoed as words, never run
    written = tmp_path / f"fleet-01-{name}"
    assert written.read_text() == evil["copy"] + "\n" + evil["lineinfile"] + "\n"
    assert sorted(p.name for p in marks.iterdir()) == ["shell", "shell2", "shell3"]  # only shell: ran
    assert not list(fleet.home.glob("pwned*"))


def test_a_failed_task_stops_only_its_host_and_exits_5(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    text = """\
hosts: all
tasks:
  - name: fails on fleet-02
    command: test {{ inventory_hostname }} != fleet-02
  - name: tolerated
    command: "false"
    ignore_errors: true
  - name: last
    command: echo reached
    register: r
    changed_when: false
  - name: judged
    command: echo "{{ r.stdout }}"
    when: r.rc == 0
    failed_when: "'reached' not in result.stdout"
  - name: skipped
    command: echo never
    when: inventory_hostname == 'nobody'
"""
    inv, book = setup(fleet, tmp_path, text)
    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 5
    hosts = doc(result)
    failed = hosts["fleet-02"]
    assert failed["status"] == "failed" and len(failed["data"]["tasks"]) == 1
    assert failed["data"]["failed_task"]["name"] == "fails on fleet-02"
    assert failed["data"]["failed_task"]["message"].startswith("rc=1")
    for name in ("fleet-01", "fleet-03"):
        tasks = hosts[name]["data"]["tasks"]
        assert [t["status"] for t in tasks] == ["changed", "failed", "ok", "changed", "skipped"]
        assert tasks[1]["ignored"] is True and hosts[name]["status"] == "changed"
        assert hosts[name]["data"]["recap"] == {"ok": 1, "changed": 2, "failed": 0, "skipped": 1, "ignored": 1}
        assert set(tasks[0]) >= {"name", "module", "status", "message", "changed", "duration_s", "data", "line"}
    table = play(inv, book, "--yes")
    assert table.exit_code == 5
    assert "fails on fleet-02: rc=1" in table.stdout
    lines = [json.loads(line) for line in play(inv, book, "--yes", "-o", "ndjson").stdout.splitlines()]
    streamed = {x["name"]: x for x in lines[:-1] if x["type"] == "host"}  # as each host finishes (after its tasks)
    assert sorted(streamed) == NAMES and lines[-1]["type"] == "summary"
    assert streamed["fleet-02"]["data"]["failed_task"]["name"] == "fails on fleet-02"
    csv = play(inv, book, "--yes", "-o", "csv").stdout.splitlines()
    assert csv[0].endswith("ok,changed,failed,skipped,unreachable") and csv[2].endswith(",0,0,1,0,0")


def test_unreachable_hosts_are_in_the_recap_and_exit_6(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    address, port = fleet.closed_port
    inv, book = setup(fleet, tmp_path, "hosts: all\ntasks:\n  - command: uptime\n", hosts=[1],
                      closed={"address": address, "port": port, "user": "root"})
    result = play(inv, book, "--yes", "--connect-timeout", "2")
    assert result.exit_code == 6
    row = next(line for line in result.stdout.splitlines() if "closed" in line and "│" in line)
    assert [c.strip() for c in row.split("│")[2:7]] == ["0", "0", "0", "0", "1"]


def test_without_a_terminal_a_changing_run_needs_yes(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "never"
    inv, book = setup(fleet, tmp_path, f"hosts: all\ntasks:\n  - copy: {{dest: {target}, content: x}}\n")
    result = play(inv, book)
    assert result.exit_code == 2
    assert "--yes" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()
    assert play(inv, book, "--check").exit_code == 0 and not target.exists()


def test_pattern_narrows_the_play_hosts_and_a_bad_playbook_runs_nothing(fleet: Fleet, env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "hosts: 'fleet-0*:!fleet-03'\ntasks:\n  - command: hostname\n")
    result = play(inv, book, "fleet-02:fleet-03", "--yes", "-o", "json")
    assert result.exit_code == 0
    assert list(doc(result)) == ["fleet-02"]
    assert doc(result)["fleet-02"]["data"]["tasks"][0]["data"]["stdout"] == "fleet-02\n"
    assert play(inv, book, "fleet-03", "--yes").exit_code == 3
    book.write_text("hosts: all\ntasks:\n  - command: hostname\n    with_items: x\n")
    bad = play(inv, book, "--yes")
    assert bad.exit_code == 3
    assert bad.stderr.strip() == f"rmmctl: error: {book}:4: tasks[0].with_items: with_items is not supported yet; expected " \
                                 "only name, when, register, changed_when, failed_when, ignore_errors, timeout, become, loop, " \
                                 "until, retries, delay, tags, notify " \
                                 "(docs/playbooks.md, \"Not yet\")"
    runs = json.loads(cli("history", "runs", "--json").stdout)["runs"]
    assert [r["command"] for r in runs] == ["play"]  # the refused ones never started a run


def test_copy_src_mode_only_and_a_task_timeout(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app.conf").write_bytes(b"\x00binary\xffand text\n")  # bytes as they are
    target = tmp_path / "app.conf"
    target.write_bytes(b"\x00binary\xffand text\n")
    target.chmod(0o600)
    text = f"""\
hosts: all
tasks:
  - copy: {{src: files/app.conf, dest: {target}, mode: "0644"}}
  - name: too slow
    command: sleep 5
    timeout: 0.5
  - command: echo not reached
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    dry = play(inv, book, "--check", "-o", "json")
    assert dry.exit_code == 0 and target.stat().st_mode & 0o7777 == 0o600
    assert doc(dry)["fleet-01"]["data"]["tasks"][0]["message"].endswith("mode 0600 -> 0644 (check mode)")
    started = time.monotonic()
    result = play(inv, book, "--yes", "-o", "json")
    assert time.monotonic() - started < 4
    assert result.exit_code == 5
    tasks = doc(result)["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in tasks] == ["changed", "failed"]
    assert tasks[0]["message"] == f"changed {target}: mode 0600 -> 0644"
    assert tasks[1]["message"].startswith("timed out after 0.5 s")
    assert target.read_bytes() == b"\x00binary\xffand text\n" and target.stat().st_mode & 0o7777 == 0o644


def test_loop_runs_each_item_and_plans_build_on_each_other(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "loop.conf"
    conf.write_text("a=0\n")
    text = f"""\
hosts: all
vars:
  settings: [a=1, b=2, c=3]
tasks:
  - name: settings
    lineinfile: {{path: {conf}, regexp: "^{{{{ item.split('=')[0] }}}}=", line: "{{{{ item }}}}"}}
    loop: "{{{{ settings }}}}"
    register: edits
  - name: counted
    command: echo {{{{ edits.results | selectattr('changed') | list | length }}}} {{{{ item }}}}
    loop: [x, y]
    when: item != 'y'
    register: said
  - name: nothing to loop over
    command: echo never
    loop: []
  - name: one item fails, every item runs
    command: test {{{{ item }}}} -lt 2
    loop: [1, 5, 0]
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    dry = play(inv, book, "--check", "--diff", "-o", "json")
    assert conf.read_text() == "a=0\n"
    planned = doc(dry)["fleet-01"]["data"]["tasks"][0]
    assert planned["status"] == "changed" and planned["message"] == "3 item(s): 3 changed"
    assert "+b=2\n" in planned["diff"] and "-a=0\n+a=1\n" in planned["diff"]
    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 5
    assert conf.read_text() == "a=1\nb=2\nc=3\n"
    tasks = doc(result)["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in tasks] == ["changed", "changed", "skipped", "failed"]
    counted = tasks[1]["data"]["results"]
    assert [(r["item"], r["status"]) for r in counted] == [("x", "changed"), ("y", "skipped")]
    assert counted[0]["stdout"] == "3 x\n"
    assert [r["status"] for r in tasks[3]["data"]["results"]] == ["changed", "failed", "changed"]
    assert tasks[3]["message"].startswith("3 item(s): 2 changed, 1 failed; item 5: rc=1")
    again = play(inv, book, "--yes", "-o", "json")
    assert doc(again)["fleet-01"]["data"]["tasks"][0]["message"] == "3 item(s): 3 ok"


def test_until_retries_with_a_delay(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    counter = tmp_path / "count"
    text = f"""\
hosts: all
tasks:
  - name: third time lucky
    shell: echo x >> {counter}; wc -l < {counter}
    register: tries
    until: tries.stdout | int >= 3
    retries: 5
    delay: 0.1
  - name: never
    command: "false"
    until: result.rc == 0
    retries: 1
    delay: 0
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    assert play(inv, book, "--check").exit_code == 0 and not counter.exists()  # skipped: nothing to retry
    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 5
    lucky, never = doc(result)["fleet-01"]["data"]["tasks"]
    assert (lucky["status"], lucky["data"]["attempts"], lucky["data"]["stdout"]) == ("changed", 3, "3\n")
    assert never["status"] == "failed" and never["data"]["attempts"] == 2
    assert never["message"].startswith("until still false after 2 attempts: rc=1")


def test_tags_and_skip_tags_choose_the_tasks(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    text = """\
hosts: all
tasks:
  - {name: plain, command: echo plain}
  - {name: web, command: echo web, tags: [web, conf]}
  - {name: db, command: echo db, tags: db}
  - {name: always, command: echo always, tags: always}
  - {name: never, command: echo never, tags: [never, debug]}
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])

    def names(*args: str) -> list[str]:
        result = play(inv, book, "--yes", "-o", "json", *args)
        assert result.exit_code == 0, result.output
        return [t["name"] for t in doc(result)["fleet-01"]["data"]["tasks"]]

    assert names() == ["plain", "web", "db", "always"]
    assert names("--tags", "web,db") == ["web", "db", "always"]
    assert names("-t", "conf", "--skip-tags", "always") == ["web"]
    assert names("--skip-tags", "db") == ["plain", "web", "always"]
    assert names("--tags", "debug") == ["always", "never"]
