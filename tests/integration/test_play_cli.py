"""`rmmctl play` command features on the real sshd fleet: history rows of play runs (runs.playbook,
task_results), `history show` of a play, `-l @last-failed` (a failing and an unreachable host),
maintenance windows through the CLI with a fixed clock."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import cli
from fleet import Fleet

FAILS_ON_02 = """\
name: Fails on two
hosts: all
tasks:
  - name: first
    command: echo one
  - name: breaks on fleet-02
    command: "{{ 'false' if inventory_hostname == 'fleet-02' else 'true' }}"
  - name: last
    command: echo done
"""


def setup(fleet: Fleet, tmp_path: Path, play: str, hosts: list[int], **more: Any) -> tuple[Path, Path]:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    if more:
        doc = yaml.safe_load(inv.read_text())
        doc["hosts"].update(more)
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    book = tmp_path / "play.yaml"
    book.write_text(play)
    return inv, book


def play(inv: Path, book: Path, *args: str) -> Any:
    return cli("play", str(book), *args, "-i", str(inv), "--connect-timeout", "2")


def hosts_of(result: Any) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in json.loads(result.stdout)["hosts"]}


def test_play_runs_are_recorded_with_task_rows_and_shown_by_history(fleet: Fleet, env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    address, port = fleet.closed_port
    inv, book = setup(fleet, tmp_path, FAILS_ON_02, [1, 2], closed={"address": address, "port": port, "user": "root"})
    result = play(inv, book, "--yes")
    assert result.exit_code == 6, result.output  # unreachable outranks a failed task
    db = sqlite3.connect(env["RMMCTL_DB"])
    run_id, playbook = db.execute("SELECT id, playbook FROM runs WHERE command = 'play'").fetchone()
    assert playbook == str(book.resolve())
    rows = db.execute("SELECT host, task_index, name, module, status, changed FROM task_results WHERE run_id = ?"
                      " ORDER BY host, task_index", (run_id,)).fetchall()
    assert rows == [("fleet-01", 0, "first", "command", "changed", 1), ("fleet-01", 1, "breaks on fleet-02", "command",
                     "changed", 1), ("fleet-01", 2, "last", "command", "changed", 1),
                    ("fleet-02", 0, "first", "command", "changed", 1),
                    ("fleet-02", 1, "breaks on fleet-02", "command", "failed", 0)]
    shown = cli("history", "show", str(run_id))
    assert shown.exit_code == 0, shown.output
    assert f"play {book.resolve()}" in shown.stdout and "failed tasks" in shown.stdout
    assert "1: breaks on fleet-02" in shown.stdout and "closed" in shown.stdout
    data = json.loads(cli("history", "show", str(run_id), "-o", "json").stdout)["run"]
    assert data["playbook"] == str(book.resolve())
    assert [(t["host"], t["index"], t["status"]) for t in data["failed_tasks"]] == [("fleet-02", 1, "failed")]
    listed = json.loads(cli("history", "-o", "json").stdout)["runs"]
    assert listed[0]["playbook"] == str(book.resolve()) and listed[0]["command"] == "play"


def test_last_failed_reruns_exactly_the_failed_and_unreachable_hosts(fleet: Fleet, env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    address, port = fleet.closed_port
    inv, book = setup(fleet, tmp_path, FAILS_ON_02, [1, 2, 3],
                      closed={"address": address, "port": port, "user": "root"})
    never = play(inv, book, "--yes", "-l", "@last-failed")
    assert never.exit_code == 3 and "no earlier run" in never.stderr and len(never.stderr.strip().splitlines()) == 1
    first = play(inv, book, "--yes", "-o", "json")
    assert first.exit_code == 6
    again = play(inv, book, "--yes", "-l", "@last-failed", "-o", "json")
    assert again.exit_code == 6, again.output
    assert sorted(hosts_of(again)) == ["closed", "fleet-02"]
    # the playbook fixed for fleet-02, the closed host dropped from the inventory: the last run's failures
    book.write_text(FAILS_ON_02.replace("'false' if", "'true' if"))
    doc = yaml.safe_load(inv.read_text())
    del doc["hosts"]["closed"]
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    fixed = play(inv, book, "--yes", "-l", "@last-failed", "-o", "json")
    assert fixed.exit_code == 0, fixed.output
    assert list(hosts_of(fixed)) == ["fleet-02"] and "left out: closed" in fixed.stderr
    done = play(inv, book, "--yes", "-l", "@last-failed")
    assert done.exit_code == 0 and "nothing to re-run" in done.stderr and done.stdout == ""
    other = play(inv, book, "--yes", "-l", "@hosts.txt")
    assert other.exit_code == 2 and "@last-failed" in other.stderr


def test_a_host_outside_its_window_is_skipped_unless_ignore_window(fleet: Fleet, env: dict[str, str],
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rmmctl.playbooks.run._utc_now", lambda: datetime(2026, 12, 1, 14, 2, tzinfo=timezone.utc))
    target = tmp_path / "out"
    target.mkdir()
    inv, book = setup(fleet, tmp_path, f"hosts: all\ntasks:\n  - copy: {{dest: '{target}/{{{{ inventory_hostname }}}}',"
                      " content: 'open={{ maintenance_window_open }}'}\n", [1, 2])
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-01"]["vars"] = {"maintenance_window": "Sun 02:00-04:00", "timezone": "Europe/Berlin"}
    doc["hosts"]["fleet-02"]["vars"] = {"maintenance_window": ["Sat 00:00-01:00", "Tue 15:00-15:30"],
                                        "timezone": "Europe/Berlin"}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = play(inv, book, "--yes")
    assert result.exit_code == 0, result.output
    assert "outside maintenance window Sun 02:00-04:00 (host time Tue 15:02 Europe/Berlin)" in result.stdout
    assert sorted(p.name for p in target.iterdir()) == ["fleet-02"]
    assert (target / "fleet-02").read_text() == "open=True"
    forced = play(inv, book, "--yes", "--ignore-window", "-o", "json")
    assert forced.exit_code == 0
    assert (target / "fleet-01").read_text() == "open=False"
    assert hosts_of(forced)["fleet-01"]["data"]["window"] == {"open": False, "windows": ["Sun 02:00-04:00"],
                                                              "host_time": "Tue 15:02 Europe/Berlin"}


def test_a_vars_file_gives_typed_values_and_later_e_wins(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "hosts: all\ntasks:\n  - name: each\n    command: echo {{ item }}-{{ tag }}\n"
                      "    loop: \"{{ words }}\"\n    changed_when: false\n", [1])
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("words: [a, b]\ntag: file\n")
    result = play(inv, book, "--yes", "-e", f"@{vars_file}", "-e", "tag=cli", "-o", "json")
    assert result.exit_code == 0, result.output
    items = hosts_of(result)["fleet-01"]["data"]["tasks"][0]["data"]["results"]
    assert [r["stdout"] for r in items] == ["a-cli\n", "b-cli\n"]
    vars_file.write_text("words: [a\n")
    bad = play(inv, book, "--yes", "-e", f"@{vars_file}")
    assert bad.exit_code == 3 and bad.stderr.startswith(f"rmmctl: error: {vars_file}:") and bad.stdout == ""


def test_a_shipped_playbook_runs_by_name(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2], extra={"groups": {"linux": {}}})
    doc = yaml.safe_load(inv.read_text())
    for entry in doc["hosts"].values():
        entry["groups"] = ["linux"]
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    motd, sshd = tmp_path / "motd", tmp_path / "sshd_config"
    sshd.write_text("#PrintMotd no\n")
    result = cli("play", "motd", "fleet-02", "--check", "-i", str(inv), "-e", f"motd_file={motd}",
                 "-e", f"sshd_config={sshd}", "-o", "json")
    assert result.exit_code == 0, result.output
    assert list(hosts_of(result)) == ["fleet-02"]
    assert [t["status"] for t in hosts_of(result)["fleet-02"]["data"]["tasks"]][:2] == ["changed", "changed"]
    assert not motd.exists() and sshd.read_text() == "#PrintMotd no\n"
    unknown = cli("play", "motd-banner", "-i", str(inv), "--check")
    assert unknown.exit_code == 3 and "shipped: " in unknown.stderr and "motd" in unknown.stderr


def test_ndjson_streams_each_task_before_its_host_line(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, FAILS_ON_02, [1, 2, 3])
    result = play(inv, book, "--yes", "-o", "ndjson")
    assert result.exit_code == 5, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["type"] == "summary"
    for name, statuses in (("fleet-01", ["changed"] * 3), ("fleet-02", ["changed", "failed"]),
                           ("fleet-03", ["changed"] * 3)):
        host_at = next(i for i, x in enumerate(lines) if x["type"] == "host" and x["name"] == name)
        tasks = [(i, x) for i, x in enumerate(lines) if x["type"] == "task" and x["host"] == name]
        assert [x["status"] for _, x in tasks] == statuses
        assert all(i < host_at for i, _ in tasks)  # a host's task lines come before its host line
        assert [x["index"] for _, x in tasks] == list(range(len(statuses)))
        assert set(tasks[0][1]) == {"type", "host", "index", "name", "module", "status", "message", "changed",
                                    "duration_s"}
    assert result.stderr == ""  # no live view without a terminal


def _validator(ref: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    folder = Path(__file__).resolve().parents[2] / "docs" / "schemas"
    docs = [json.loads(p.read_text()) for p in folder.glob("*.schema.json")]
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    return jsonschema.Draft202012Validator({"$ref": "https://rmmctl.dev/schemas/v1/" + ref}, registry=registry)


def problems(ref: str, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in _validator(ref).iter_errors(doc)]


def test_play_output_matches_its_schema(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rmmctl.playbooks.run._utc_now", lambda: datetime(2026, 12, 1, 14, 2, tzinfo=timezone.utc))
    address, port = fleet.closed_port
    text = FAILS_ON_02 + "  - name: allowed\n    command: 'false'\n    ignore_errors: true\n" \
                         "  - name: diffed\n    copy: {dest: '" + str(tmp_path) + "/{{ inventory_hostname }}', content: x}\n"
    inv, book = setup(fleet, tmp_path, text, [1, 2, 3], closed={"address": address, "port": port, "user": "root"})
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-03"]["vars"] = {"maintenance_window": "Sun 02:00-04:00", "timezone": "UTC"}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = play(inv, book, "--yes", "--diff", "-o", "json")
    full = json.loads(result.stdout)
    statuses = {h["name"]: h["status"] for h in full["hosts"]}
    assert statuses == {"fleet-01": "changed", "fleet-02": "failed", "fleet-03": "skipped", "closed": "unreachable"}
    assert problems("play.schema.json", full) == []
    lines = [json.loads(line) for line in play(inv, book, "--yes", "--diff", "-o", "ndjson").stdout.splitlines()]
    kinds = {x["type"] for x in lines}
    assert kinds == {"task", "host", "summary"}
    for line in lines:
        ref = {"task": "ndjson_task", "host": "ndjson_host", "summary": "ndjson_summary"}[line["type"]]
        assert problems(f"play.schema.json#/$defs/{ref}", line) == [], line
    assert any(x.get("ignored") for x in lines if x["type"] == "task")
    listed = json.loads(cli("play", "--list", "-o", "json").stdout)
    assert problems("play.schema.json#/$defs/play_list", listed) == []
    for mutate in (lambda d: d["hosts"][0]["data"]["tasks"][0].pop("status"),
                   lambda d: d["hosts"][0]["data"]["recap"].update(failed="1"),
                   lambda d: d["hosts"][1]["data"].pop("failed_task")):
        broken = json.loads(result.stdout)
        mutate(broken)
        assert problems("play.schema.json", broken)
    task_line = next(x for x in lines if x["type"] == "task")
    assert problems("play.schema.json#/$defs/ndjson_task", {**task_line, "host_name": "x"})


def test_consent_on_a_terminal_shows_the_check_mode_plan_then_asks_once(fleet: Fleet, env: dict[str, str],
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "fleet-02").write_text("same")
    text = (f"name: Files\nhosts: all\ntasks:\n  - name: write it\n    copy: {{dest: '{out}/{{{{ inventory_hostname }}}}',"
            " content: same}\n  - name: look\n    command: 'true'\n    changed_when: false\n")
    address, port = fleet.closed_port
    inv, book = setup(fleet, tmp_path, text, [1, 2], closed={"address": address, "port": port, "user": "root"})
    monkeypatch.setattr("rmmctl.cli.play.interactive", lambda: True)
    declined = cli("play", str(book), "-i", str(inv), "--connect-timeout", "2", input="n\n")
    assert declined.exit_code == 2 and "not confirmed" in declined.stderr
    assert sorted(p.name for p in out.iterdir()) == ["fleet-02"]  # the plan changed nothing
    err = declined.stderr
    assert "checking what it would change first" in err
    assert "fleet-01  would change 1 of 2 task(s): write it" in err
    assert "fleet-02  no change" in err and "closed  unreachable" in err
    assert "3 host(s), 1 would change" in err and err.count("Run 'Files' on these 3 host(s)?") == 1
    db = sqlite3.connect(env["RMMCTL_DB"])
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # the plan is not a run in the history
    accepted = cli("play", str(book), "-i", str(inv), "--connect-timeout", "2", input="y\n")
    assert accepted.exit_code == 6, accepted.output
    assert (out / "fleet-01").read_text() == "same"
    assert db.execute("SELECT COUNT(*) FROM runs WHERE command = 'play'").fetchone()[0] == 1
    monkeypatch.setattr("rmmctl.cli.play.interactive", lambda: False)
    refused = cli("play", str(book), "-i", str(inv))
    assert refused.exit_code == 2 and "--yes" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
