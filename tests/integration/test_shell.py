"""`rmmctl shell HOST` under a pseudo-terminal (pexpect): a pty over SSH on the real sshd fleet, a PowerShell
prompt over WinRM against the double; the audit rows of each session, never what was typed."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest
import yaml

from conftest import cli
from fleet import Fleet
from winfleet import PASSWORD, PASSWORD_ENV, WinFleet, everyday_powershell, windows_inventory
from winrm_double import Invocation, Result

SRC = str(Path(__file__).resolve().parents[2] / "src")
TIMEOUT = 15


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "TERM": "xterm", "NO_COLOR": "1", PASSWORD_ENV: PASSWORD}


def _audit(host: str) -> list[dict]:
    result = cli("history", "audit", "--host", host, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["audit"]


def _runs() -> list[dict]:
    result = cli("history", "runs", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["runs"]


def test_ssh_pty_hostname_resize_ctrl_c_exit_code_and_restored_terminal(fleet: Fleet, env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    # sh runs rmmctl in the terminal, then shows its exit code and the terminal's modes after it
    script = f'{sys.executable} -m rmmctl shell fleet-01 -i {inv}; echo "CODE=$?"; stty -a'
    child = pexpect.spawn("/bin/sh", ["-c", script], env=_env(env), dimensions=(24, 80), timeout=TIMEOUT,
                          encoding="utf-8", codec_errors="replace")
    try:
        child.sendline("export PS1='$ '; echo H=$(hostname)")
        child.expect(r"H=fleet-01")
        child.sendline('echo SZ="$(stty size)"')
        child.expect(r'SZ=(\d+ \d+)\r')
        assert child.match.group(1) == "24 80"
        child.setwinsize(40, 132)  # the local pty resized: SIGWINCH to rmmctl, then window-change to the host
        for _ in range(3):  # the window-change and the next keys race on a loaded machine: ask again
            child.sendline('echo SZ="$(stty size)"')
            child.expect(r'SZ=(\d+ \d+)\r')
            if child.match.group(1) == "40 132":
                break
        assert child.match.group(1) == "40 132"
        child.sendline('echo ST""ARTED; sleep 30; echo AF""TER')
        child.expect("STARTED")
        started = time.monotonic()
        child.send("\x03")  # raw mode: Ctrl-C goes to the host as data, its tty makes it a SIGINT for sleep
        child.sendline('echo ALIVE-$((2+3))')
        child.expect("ALIVE-5")
        assert time.monotonic() - started < 10
        assert "AFTER" not in child.before
        child.sendline("exit 3")
        child.expect(r"CODE=(\d+)")
        assert child.match.group(1) == "3"
        child.expect(pexpect.EOF)
        modes = child.before
        assert re.search(r"(?<![-\w])icanon\b", modes) and re.search(r"(?<![-\w])echo\b", modes), modes
        assert re.search(r"(?<![-\w])isig\b", modes), modes
    finally:
        child.close(force=True)
    [run] = [r for r in _runs() if r["command"] == "shell"]
    rows = [r for r in _audit("fleet-01") if r["run_id"] == run["id"]]
    assert [r["action"] for r in rows] == ["shell", "shell"], rows
    start, end = sorted(rows, key=lambda r: r["id"])
    assert start["detail"].startswith("session start: ssh pty xterm 80x24")
    assert end["detail"] == "session end: the remote shell exited" and end["exit_code"] == 3
    typed = ("hostname", "stty", "sleep", "ALIVE", "exit 3")
    assert not any(word in json.dumps(rows) for word in typed)


def _spawn_shell(inv: Path, env: dict[str, str], *extra: str) -> pexpect.spawn:
    script = f'{sys.executable} -m rmmctl shell fleet-01 -i {inv} {" ".join(extra)}; echo "CODE=$?"; stty -a'
    return pexpect.spawn("/bin/sh", ["-c", script], env=_env(env), dimensions=(24, 80), timeout=TIMEOUT,
                         encoding="utf-8", codec_errors="replace")


def _restored(child: pexpect.spawn) -> None:
    child.expect(pexpect.EOF)
    for mode in ("icanon", "echo", "isig"):
        assert re.search(rf"(?<![-\w]){mode}\b", child.before), child.before


def test_become_runs_sudo_and_a_dropped_connection_exits_6_with_the_terminal_restored(
        fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    child = _spawn_shell(inv, env, "--become")
    try:
        child.sendline('echo U=$(id -u)-"$SUDO_USER"')
        child.expect(r"U=0-root")
        child.sendline("exit")
        child.expect(r"CODE=(\d+)")
        assert child.match.group(1) == "0"
        _restored(child)
    finally:
        child.close(force=True)
    child = _spawn_shell(inv, env)
    try:
        child.sendline("echo RE""ADY; kill -9 $PPID")  # the host's sshd session dies: no exit status comes
        child.expect("READY")
        child.expect(r"CODE=(\d+)")
        assert child.match.group(1) == "6"
        assert "rmmctl: error: fleet-01: connection lost" in child.before
        _restored(child)
    finally:
        child.close(force=True)
    ends = sorted((r for r in _audit("fleet-01") if r["detail"].startswith("session ")), key=lambda r: r["id"])
    assert [r["detail"] for r in ends] == ["session start: ssh pty xterm 80x24, sudo -i",
                                           "session end: the remote shell exited",
                                           "session start: ssh pty xterm 80x24",
                                           "session end: connection lost"]
    assert [r["exit_code"] for r in ends] == [None, 0, None, None]


def test_a_jump_host_and_an_unknown_host_key_are_the_transports_own(fleet: Fleet, env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-02"]["proxy_jump"] = "fleet-01"
    inv.write_text(yaml.safe_dump(doc))
    script = f'{sys.executable} -m rmmctl shell fleet-02 -i {inv} -v; echo "CODE=$?"'
    child = pexpect.spawn("/bin/sh", ["-c", script], env=_env(env), timeout=TIMEOUT, encoding="utf-8")
    try:
        child.expect(r"through\s+the\s+jump\s+host's\s+tunnel")  # the -v trace, before the pty
        child.sendline('echo H=$(hostname)')
        child.expect(r"H=fleet-02\r")
        child.sendline("exit")
        child.expect(r"CODE=0")
    finally:
        child.close(force=True)
    del doc["known_hosts"]  # strict host keys: an unknown key is refused before any session opens
    inv.write_text(yaml.safe_dump(doc))
    child = pexpect.spawn(sys.executable, ["-m", "rmmctl", "shell", "fleet-01", "-i", str(inv)], env=_env(env),
                          timeout=TIMEOUT, encoding="utf-8")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 7
    assert "unknown host key" in child.before and "rmmctl hostkeys scan fleet-01" in child.before


def test_sigterm_ends_the_session_with_143_and_the_terminal_restored(fleet: Fleet, env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    import psutil

    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    child = _spawn_shell(inv, env)
    try:
        child.sendline("echo RE''ADY")
        child.expect("READY")
        [rmmctl] = psutil.Process(child.pid).children()
        rmmctl.terminate()
        child.expect(r"CODE=(\d+)")
        assert child.match.group(1) == "143"
        assert "rmmctl: terminated" in child.before or "Terminated" in child.before, child.before
        _restored(child)
    finally:
        child.close(force=True)
    [run] = [r for r in _runs() if r["command"] == "shell"]
    assert run["status"] != "running", run
    rows = sorted((r for r in _audit("fleet-01") if r["run_id"] == run["id"]), key=lambda r: r["id"])
    assert [r["detail"] for r in rows] == ["session start: ssh pty xterm 80x24", "session end: interrupted (SIGTERM)"]


def test_ssh_without_a_terminal_refuses_and_a_local_host_is_refused(fleet: Fleet, env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    result = cli("shell", "fleet-01", "-i", str(inv))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "needs a terminal" in result.stderr
    assert "rmmctl run fleet-01 -- COMMAND" in result.stderr
    result = cli("shell", "fleet-*", "-i", str(inv))
    assert result.exit_code == 3 and "shell works on one host; 'fleet-*' matches 2" in result.stderr
    local = tmp_path / "local.yaml"
    local.write_text(yaml.safe_dump({"hosts": {"here": {"connection": "local"}}}))
    result = cli("shell", "here", "-i", str(local))
    assert result.exit_code == 3
    assert "connection is local; `rmmctl shell` needs an ssh or winrm host" in result.stderr
    assert not [r for r in _runs() if r["command"] == "shell"]  # refused before anything ran


def _answers(inv: Invocation) -> Result:
    if inv.script == "hostname":
        return Result(stdout="WIN-01\r\n")
    if inv.script == "Get-Item C:\\nope":
        return Result(stderr="Cannot find path 'C:\\nope' because it does not exist.\r\n", rc=1)
    if inv.script == "Start-Sleep 30":
        return Result(hang=True)
    return everyday_powershell(inv)


def test_winrm_prompt_runs_lines_in_one_shell_and_exit_leaves(env: dict[str, str], tmp_path: Path) -> None:
    with WinFleet(1, other=_answers) as wf:
        inv = windows_inventory(tmp_path / "win.yaml", wf)
        child = pexpect.spawn(sys.executable, ["-m", "rmmctl", "shell", "win-01", "-i", str(inv)], env=_env(env),
                              timeout=TIMEOUT, encoding="utf-8", codec_errors="replace")
        try:
            child.expect_exact("PS win-01> ")
            child.sendline("hostname")
            child.expect(r"\r\nWIN-01\r\n")
            child.expect_exact("PS win-01> ")
            child.sendline("Get-Item C:\\nope")
            child.expect("does not exist")
            child.expect(r"\[exit 1\]")
            child.expect_exact("PS win-01> ")
            child.sendline("exit")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        assert child.exitstatus == 0
        double = wf.doubles["win-01"]
        assert double.created == 1  # both lines in the one shell
        wf.check_clean()  # and it was deleted at the end
    rows = _audit("win-01")
    assert sorted(r["detail"] for r in rows) == ["session end: exit after 2 command(s)",
                                                 "session start: winrm powershell prompt"]
    assert "hostname" not in json.dumps(rows) and "nope" not in json.dumps(rows)


def test_winrm_ctrl_c_stops_the_command_and_keeps_the_prompt(env: dict[str, str], tmp_path: Path) -> None:
    with WinFleet(1, other=_answers) as wf:
        inv = windows_inventory(tmp_path / "win.yaml", wf)
        double = wf.doubles["win-01"]
        child = pexpect.spawn(sys.executable, ["-m", "rmmctl", "shell", "win-01", "-i", str(inv)], env=_env(env),
                              timeout=TIMEOUT, encoding="utf-8", codec_errors="replace")
        try:
            child.expect_exact("PS win-01> ")
            child.sendline("Start-Sleep 30")
            deadline = time.monotonic() + TIMEOUT
            while not any(s.commands for s in list(double.shells.values())):  # the command runs on the host
                assert time.monotonic() < deadline, "the command never started"
                time.sleep(0.02)
            child.sendintr()
            child.expect("stopped on the host")
            child.expect_exact("PS win-01> ")
            child.sendline("hostname")
            child.expect(r"\r\nWIN-01\r\n")
            # Ctrl-D only once readline holds the terminal: typed ahead, the tty's canonical mode turns it into a
            # NUL line end, which readline then reads as a key (bash behaves the same)
            child.expect_exact("PS win-01> ")
            child.sendeof()
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        assert child.exitstatus == 0  # end of input: the last command's exit code
        assert "terminate" in double.signals
        assert double.created == 1  # the session kept its one shell
        wf.check_clean()


def test_winrm_lines_from_stdin_without_a_terminal(env: dict[str, str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with WinFleet(1, other=_answers) as wf:
        inv = windows_inventory(tmp_path / "win.yaml", wf)
        result = cli("shell", "win-01", "-i", str(inv), input="hostname\n\nGet-Item C:\\nope\n")
        assert result.exit_code == 1, result.stderr  # the last line's exit code
        assert result.stdout == "WIN-01\n"
        assert "does not exist" in result.stderr and "[exit 1]" in result.stderr
        assert wf.doubles["win-01"].created == 1
        result = cli("shell", "win-01", "-i", str(inv), input="hostname\nexit 4\nhostname\n")
        assert result.exit_code == 4 and result.stdout.count("WIN-01") == 1
        wf.check_clean()
    [first, second] = [r for r in _runs() if r["command"] == "shell"][-2:] or [None, None]
    assert first and second
