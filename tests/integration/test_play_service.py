"""The `service` module on the real fleet, init-script path: a real POSIX init script in a temp folder
(the host var `service_init_dir` points the module at it) starting a real background process with a
pidfile. The machine's /etc/init.d and its services are never touched; the test kills its daemon."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import yaml

from conftest import cli
from fleet import Fleet

NAME = "rmmctl-test-svc"

INIT_SCRIPT = """\
#!/bin/sh
# A real, minimal SysV-style init script: a sleep loop with a pidfile.
pidfile={pidfile}
running() {{ [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         nohup sh -c 'while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &
         echo $! > "$pidfile" ;;
  stop) if running; then kill "$(cat "$pidfile")"; fi; rm -f "$pidfile" ;;
  restart) "$0" stop; "$0" start ;;
  reload) running || exit 7; kill -0 "$(cat "$pidfile")" ;;
  status) running && exit 0; [ -f "$pidfile" ] && exit 1; exit 3 ;;
  *) echo "usage: $0 start|stop|restart|reload|status" >&2; exit 2 ;;
esac
"""


def pid_of(pidfile: Path) -> int | None:
    """The daemon's PID if it is alive."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def play(tmp_path: Path, inv: Path, state: str, *args: str) -> dict[str, Any]:
    book = tmp_path / f"{state}.yaml"
    book.write_text(f"hosts: all\ntasks:\n  - service: {{name: {NAME}, state: {state}}}\n")
    result = cli("play", str(book), *args, "-i", str(inv), "-o", "json")
    tasks = json.loads(result.stdout)["hosts"][0]["data"]["tasks"]
    assert len(tasks) == 1, result.output
    return {"exit": result.exit_code, **tasks[0]}


def test_init_script_service_check_start_settle_restart_stop(fleet: Fleet, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    init_dir = tmp_path / "init.d"
    init_dir.mkdir()
    pidfile = tmp_path / f"{NAME}.pid"
    script = init_dir / NAME
    script.write_text(INIT_SCRIPT.format(pidfile=pidfile))
    script.chmod(0o755)
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-01"]["vars"] = {"service_init_dir": str(init_dir)}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    seen: list[int] = []
    try:
        dry = play(tmp_path, inv, "started", "--check")
        assert dry["exit"] == 0 and dry["status"] == "changed"
        assert dry["message"] == f"would start {NAME} (init; check mode)"
        assert dry["data"]["actions"] == ["start"] and dry["data"]["running"] is False
        assert not pidfile.exists() and pid_of(pidfile) is None  # nothing started

        run = play(tmp_path, inv, "started", "--yes")
        assert run["exit"] == 0 and (run["status"], run["message"]) == ("changed", f"start {NAME} (init)")
        first = pid_of(pidfile)
        assert first is not None
        seen.append(first)

        again = play(tmp_path, inv, "started", "--yes")
        assert (again["status"], again["message"]) == ("ok", f"{NAME} is as wanted (init: running)")
        assert pid_of(pidfile) == first

        dry_stop = play(tmp_path, inv, "stopped", "--check")
        assert dry_stop["status"] == "changed" and dry_stop["data"]["actions"] == ["stop"]
        assert pid_of(pidfile) == first  # still running

        restarted = play(tmp_path, inv, "restarted", "--yes")
        assert restarted["status"] == "changed"
        second = pid_of(pidfile)
        assert second is not None and second != first
        seen.append(second)
        assert pid_of_gone(first)

        stopped = play(tmp_path, inv, "stopped", "--yes")
        assert (stopped["status"], stopped["message"]) == ("changed", f"stop {NAME} (init)")
        assert pid_of(pidfile) is None and pid_of_gone(second)
        assert play(tmp_path, inv, "stopped", "--yes")["status"] == "ok"

        enabled = tmp_path / "enabled.yaml"
        enabled.write_text(f"hosts: all\ntasks:\n  - service: {{name: {NAME}, enabled: true}}\n")
        result = cli("play", str(enabled), "--yes", "-i", str(inv), "-o", "json")
        task = json.loads(result.stdout)["hosts"][0]["data"]["tasks"][0]
        assert result.exit_code == 5 and task["status"] == "failed"
        assert "enabled is not supported for init scripts" in task["message"]
    finally:
        for pid in [*seen, pid_of(pidfile) or 0]:
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass


def pid_of_gone(pid: int, wait: float = 3.0) -> bool:
    """The process has exited (a killed child of init may linger a moment as a zombie)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def test_a_missing_service_fails_with_the_reason(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "init.d").mkdir()
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-01"]["vars"] = {"service_init_dir": str(tmp_path / "init.d")}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    task = play(tmp_path, inv, "started", "--check")
    assert task["exit"] == 5 and task["status"] == "failed"
    assert task["message"] == f"{NAME}: no such service: no systemd here and no init script {tmp_path}/init.d/{NAME}"


def test_a_templated_name_is_refused_and_the_init_dir_is_data(fleet: Fleet, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    odd = tmp_path / "init$(cd; touch pwned)`cd; touch pwned2`;cd;touch pwned3"  # a real folder of that name
    odd.mkdir()
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-01"]["vars"] = {"service_init_dir": str(odd)}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    book = tmp_path / "evil.yaml"
    book.write_text("hosts: all\ntasks:\n  - service: {name: \"{{ svc }}\", state: started}\n")
    for svc in (f"x$(touch {marks}/a)", f"x;touch {marks}/b", f"`touch {marks}/c`"):
        result = cli("play", str(book), "--yes", "-e", f"svc={svc}", "-i", str(inv), "-o", "json")
        task = json.loads(result.stdout)["hosts"][0]["data"]["tasks"][0]
        assert result.exit_code == 5 and task["status"] == "failed" and "name: got" in task["message"], task
    task = play(tmp_path, inv, "started", "--yes")  # the odd folder reaches the host quoted: no such script
    assert task["status"] == "failed" and task["message"].endswith(f"no init script {odd}/{NAME}")
    assert not list(marks.iterdir()) and not list(fleet.home.glob("pwned*"))
