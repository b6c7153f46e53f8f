"""Ctrl-C leaves no remote command running, and the audit trail records what was started: a real
`rmmctl run` process on the fleet, interrupted with SIGINT, checked on the hosts over separate SSH
connections."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rmmctl
from fleet import Fleet
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport

SRC = str(Path(rmmctl.__file__).parents[1])  # the rmmctl this test imported, for the CLI processes too


@pytest.fixture
def watchers(fleet: Fleet, ssh_options: TransportOptions) -> Iterator[list[SSHTransport]]:
    """Separate connections to fleet-05 and fleet-06, to look at their processes."""
    opened = [SSHTransport(fleet.inventory_host(i), ssh_options) for i in (5, 6)]
    yield opened
    for t in opened:
        t.close()


def _remote(t: SSHTransport, pattern: str) -> str:
    return t.run(f"pgrep -f {shlex.quote(pattern)} || true").stdout.strip()


def _rmmctl(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rmmctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **env, "PYTHONPATH": SRC})


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_stops_its_remote_commands_and_audits_them(
        fleet: Fleet, env: dict[str, str], tmp_path: Path, watchers: list[SSHTransport], sig: signal.Signals,
        code: int) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts=[5, 6])
    marker = f"300.{os.getpid() % 1000:03d}"
    proc = _rmmctl(["run", "all", "-i", str(inv), "--json", "-v", "--", "sleep", marker], env)  # -v: shows the stop
    try:
        end = time.monotonic() + 10
        while not all(_remote(w, f"^sleep {marker}$") for w in watchers):  # readiness: both hosts run it
            assert proc.poll() is None and time.monotonic() < end, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"\ninterrupt to exit: {(time.monotonic() - started) * 1000:.0f} ms\n{err}")
    assert proc.returncode == code, err
    assert [w.name for w in watchers if _remote(w, f"^sleep {marker}$")] == []  # nothing left on either host
    hosts = json.loads(out)["hosts"]
    assert [h["status"] for h in hosts] == ["interrupted", "interrupted"]
    audit = json.loads(subprocess.run([sys.executable, "-m", "rmmctl", "history", "audit", "--json"], text=True,
                                      capture_output=True, env={**os.environ, **env, "PYTHONPATH": SRC},
                                      check=True).stdout)["audit"]
    started_cmds = sorted((a["host"], a["detail"], a["exit_code"]) for a in audit)
    assert started_cmds == [("fleet-05", f"sleep {marker}", None), ("fleet-06", f"sleep {marker}", None)]


def _local(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def test_an_interrupted_local_run_kills_its_command(env: dict[str, str], tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  here: {connection: local}\n")
    marker = f"301.{os.getpid() % 1000:03d}"
    proc = _rmmctl(["run", "all", "-i", str(inv), "--json", "--", "sleep", marker], env)
    try:
        end = time.monotonic() + 10
        while not _local(f"^sleep {marker}$"):
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        leftover = _local(f"^sleep {marker}$")
        for pid in leftover:  # only ever the command this test started
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert leftover == []
    assert json.loads(out)["hosts"][0]["status"] == "interrupted"


def _stat(pid: int) -> list[str] | None:
    """(state, ppid, pgrp, ...) of a live process, None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def test_an_interrupt_during_password_cmd_kills_it_and_its_child(fleet: Fleet, env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    h = fleet.host(7)
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"known_hosts: {fleet.known_hosts}\nhosts:\n  {h.name}: {{address: {h.address}, port: {h.port}, "
                   f"user: root, password_cmd: 'echo $$ > {pidfile}; sleep 100; echo x'}}\n")
    proc = _rmmctl(["ping", "-i", str(inv), "--json"], env)
    started: list[int] = []
    try:
        end = time.monotonic() + 10
        while not started:  # readiness: the password command's shell has started its `sleep 100`
            assert proc.poll() is None and time.monotonic() < end
            if pidfile.exists() and pidfile.read_text().strip():
                shell = int(pidfile.read_text())
                started = [shell, *_children(shell)] if _children(shell) else []
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    end = time.monotonic() + 2
    while any(_stat(p) for p in started) and time.monotonic() < end:
        time.sleep(0.02)  # SIGKILL was sent to the group; wait for the kernel to finish it
    left = [p for p in started if _stat(p)]
    for pid in left:  # only the shell and sleep this test's password_cmd started
        os.kill(pid, signal.SIGKILL)
    assert left == []
