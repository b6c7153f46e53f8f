"""`rmmctl watch` driven under a pseudo-terminal (pexpect) against real sshd hosts and the WinRM double:
the screen shows the hosts and values that change between rounds, connections stay open between
rounds (no second handshake: the hosts' sshd session processes stay the same, the double creates one
shell per host), a host killed and started again is reconnected, a resize is survived, `q` and Ctrl-C
exit 0 leaving no session on any host, and without a terminal watch refuses with exit 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

import rmmctl
from conftest import require_fleet
from fleet import Fleet, FixtureSpec
from winfleet import PASSWORD, PASSWORD_ENV, WinFleet, add_to_inventory

SRC = str(Path(rmmctl.__file__).parents[1])
MEMINFO = """MemTotal:        8000000 kB
MemFree:         4000000 kB
MemAvailable:    {available} kB
Buffers:            1000 kB
Cached:            30000 kB
SwapTotal:       2000000 kB
SwapFree:        2000000 kB
"""
ANSWERED = ("ok", "warn", "crit")  # the fleet's hosts are this machine: pending updates make them crit
ANSWERED_CELL = [[s] for s in ANSWERED]
APT_SHIM = "#!/bin/sh\necho 'Listing...'\necho 'curl/stable 7.88.1-10+deb12u12 amd64 [upgradable from: 7.88.1-10+deb12u11]'\n"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")


class Screen:
    """A watch process under a pty and the last frame it drew (rich's Live redraws from the top left:
    each frame starts with ESC [H)."""

    def __init__(self, args: list[str], env: dict[str, str], rows: int = 40, cols: int = 160) -> None:
        full = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        full.update(env, PYTHONPATH=SRC, TERM="xterm-256color")
        self.child = pexpect.spawn(sys.executable, ["-m", "rmmctl", "watch", *args], env=full,
                                   dimensions=(rows, cols), timeout=20)
        self.raw = ""

    def frame(self, *, raw: bool = False) -> str:
        last = self.raw.rsplit("\x1b[H", 1)[-1]
        return last if raw else _ANSI.sub("", last)

    def wait_for(self, test: Callable[[str], bool], timeout: float = 15.0, what: str = "") -> str:
        """Read output until test(frame without escapes) holds; the frame."""
        end = time.monotonic() + timeout
        while True:
            frame = self.frame()
            if test(frame):
                return frame
            if time.monotonic() > end:
                raise AssertionError(f"not on screen within {timeout} s: {what}\n--- last frame ---\n{frame}")
            try:
                self.raw += self.child.read_nonblocking(1 << 16, timeout=0.2).decode("utf-8", "replace")
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                raise AssertionError(f"watch exited ({what}):\n{self.raw[-2000:]}") from None

    def round_at_least(self, n: int) -> int:
        frame = self.wait_for(lambda f: _round(f) >= n, what=f"round {n}")
        return _round(frame)

    def quit(self, key: str = "q") -> int:
        """Press `key` (or send Ctrl-C for "ctrl-c"); the exit status."""
        if key == "ctrl-c":
            self.child.sendintr()
        else:
            self.child.send(key)
        self.child.expect(pexpect.EOF, timeout=15)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else 128 + (self.child.signalstatus or 0)

    def kill(self) -> None:
        if self.child.isalive():
            self.child.kill(signal.SIGKILL)


def _round(frame: str) -> int:
    m = re.search(r"round (\d+) every", frame)
    return int(m.group(1)) if m else 0


def _row(frame: str, host: str) -> list[str]:
    """The cells of a host's row (split on runs of 2+ spaces)."""
    for line in frame.splitlines():
        if line.startswith(host + " "):
            return re.split(r"\s{2,}", line.strip())
    return []


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    opened: list[Screen] = []
    yield opened
    for s in opened:
        s.kill()


def _wait_gone(pids: Callable[[], list[int]], timeout: float = 5.0) -> list[int]:
    end = time.monotonic() + timeout
    while (left := pids()) and time.monotonic() < end:
        time.sleep(0.02)  # sshd's session processes exit once the client has closed
    return left


@pytest.fixture(scope="module")
def own_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Four sshd hosts of this module's own (an apt shim each: the real `apt list` costs ~1 s a probe),
    host 1's memory read from a file the test rewrites, host 2 killed and started again, host 4's probe
    hanging in `apt` (sleep 60)."""
    require_fleet()
    workdir = tmp_path_factory.mktemp("watchfleet")
    meminfo = {"meminfo": MEMINFO.format(available=5040000)}  # 37% used
    specs = {f"watch-0{i}": FixtureSpec(bin={"apt": APT_SHIM}, proc=meminfo if i == 1 else {}) for i in (1, 2, 3)}
    specs["watch-04"] = FixtureSpec(bin={"apt": "#!/bin/sh\nexec sleep 60\n"})  # a probe that hangs
    with Fleet(workdir, prefix="watch") as running:
        running.start(4, specs)
        yield running


def test_watch_keeps_one_connection_per_host_and_q_exits_clean(
        own_fleet: Fleet, env: dict[str, str], tmp_path: Path, screens: list[Screen]) -> None:
    fleet, chosen = own_fleet, [1, 2, 3]
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts=chosen)
    assert [i for i in chosen if _wait_gone(lambda i=i: fleet.sessions(i))] == []  # the start's banner checks
    screen = Screen(["-i", str(inv), "--interval", "0.5"], env)
    screens.append(screen)
    frame = screen.wait_for(lambda f: _round(f) >= 1 and all(_row(f, fleet.host(i).name) for i in chosen),
                            what="every host after round 1")
    assert all(_row(frame, fleet.host(i).name)[1] in ANSWERED for i in chosen), frame
    first = {i: fleet.sessions(i) for i in chosen}
    assert all(first.values()), first  # connected
    start = screen.round_at_least(2)
    screen.round_at_least(start + 3)
    assert {i: fleet.sessions(i) for i in chosen} == first  # the same sshd sessions: no new connection
    assert "connections: 3 open, 3 opened" in screen.frame()
    screen.child.setwinsize(12, 70)  # a resize: the next frames are drawn at the new size
    frame = screen.wait_for(lambda f: _round(f) >= start + 5, what="rounds after a resize")
    assert max(len(line) for line in frame.splitlines()) <= 70, frame
    assert screen.quit("q") == 0
    assert [i for i in chosen if _wait_gone(lambda i=i: fleet.sessions(i))] == []  # no session left


def test_q_during_a_round_stops_the_hung_probe_on_the_host_and_exits_0(
        own_fleet: Fleet, env: dict[str, str], tmp_path: Path, screens: list[Screen]) -> None:
    inv = own_fleet.write_inventory(tmp_path / "inv.yaml", hosts=[4])
    screen = Screen(["-i", str(inv), "--interval", "0.5", "--no-record"], env)
    screens.append(screen)
    screen.wait_for(lambda f: _row(f, "watch-04")[1:2] == ["waiting"], what="the first frame")
    end = time.monotonic() + 10
    while not any(name == "sleep" for _, name in own_fleet.processes(4)):  # readiness: the probe hangs in apt
        assert time.monotonic() < end, own_fleet.processes(4)
        time.sleep(0.02)
    started = time.monotonic()
    assert screen.quit("q") == 0
    assert time.monotonic() - started < 8  # not the 60 s of the hung probe, nor its 15 s command timeout
    assert _wait_gone(lambda: own_fleet.processes(4)) == []  # no session, no sleep left on the host


def test_watch_shows_a_changed_value_and_reconnects_a_host_that_comes_back(
        own_fleet: Fleet, env: dict[str, str], tmp_path: Path, screens: list[Screen]) -> None:
    inv = own_fleet.write_inventory(tmp_path / "inv.yaml", hosts=[1, 2])
    meminfo = own_fleet.host(1).workdir / "fx" / "proc" / "meminfo"  # bind-mounted over /proc/meminfo
    meminfo.write_text(MEMINFO.format(available=5040000))
    screen = Screen(["-i", str(inv), "--interval", "0.5", "--record-every", "0"], env)
    screens.append(screen)
    screen.wait_for(lambda f: _row(f, "watch-01")[3:4] == ["37%"] and _row(f, "watch-02")[1:2] in ANSWERED_CELL,
                    what="watch-01 at 37% memory")
    meminfo.write_text(MEMINFO.format(available=1520000))  # same inode: the host sees 81% used now
    screen.wait_for(lambda f: _row(f, "watch-01")[3:4] == ["81%"], what="watch-01 at 81% memory")
    assert re.search(r"\x1b\[[0-9;]*7m\s*81%", screen.frame(raw=True)), "the changed cell is highlighted"
    own_fleet.kill_host(2)
    frame = screen.wait_for(lambda f: _row(f, "watch-02")[1:2] and _row(f, "watch-02")[1].startswith("unreachable"),
                            what="watch-02 unreachable")
    assert re.search(r"watch-02 down: unreachable", frame), frame
    own_fleet.restart_host(2)
    frame = screen.wait_for(lambda f: _row(f, "watch-02")[1:2] in ANSWERED_CELL and "q quits" in f, timeout=40,
                            what="watch-02 back (the whole frame drawn, its footer too)")
    back = re.search(r"watch-02 back: answering again after (\d+) failed round", frame)
    assert back, frame
    # the first failed round was on the kept connection; every later one, and the answer, a fresh connect:
    # 2 + failed rounds opened in all, so no other host reconnected
    assert f"connections: 2 open, {2 + int(back.group(1))} opened" in frame, frame
    assert len(own_fleet.sessions(2)) >= 1
    assert screen.quit("ctrl-c") == 0
    assert [i for i in (1, 2) if _wait_gone(lambda i=i: own_fleet.sessions(i))] == []
    runs = subprocess.run([sys.executable, "-m", "rmmctl", "history", "runs", "--json"], capture_output=True,
                          text=True, env={**os.environ, **env, "PYTHONPATH": SRC}, check=True).stdout
    assert '"command": "watch"' in runs  # --record-every 0: rounds recorded like status runs


def test_watch_on_windows_and_ssh_hosts_keeps_one_shell_per_windows_host(
        own_fleet: Fleet, env: dict[str, str], tmp_path: Path, screens: list[Screen]) -> None:
    with WinFleet(2) as wf:
        inv = add_to_inventory(own_fleet.write_inventory(tmp_path / "inv.yaml", hosts=[3]), wf)
        screen = Screen(["-i", str(inv), "--interval", "0.5", "--no-record"], {**env, PASSWORD_ENV: PASSWORD})
        screens.append(screen)
        screen.wait_for(lambda f: _row(f, "win-01")[3:4] == ["56%"] and _row(f, "win-02")[3:4] == ["56%"]
                        and _row(f, "watch-03")[1:2] in ANSWERED_CELL, what="the Windows hosts at 56% memory")
        shells = {n: set(d.shells) for n, d in wf.doubles.items()}
        assert all(len(s) == 1 for s in shells.values()), shells  # the shell is kept between rounds
        wf.probes["win-02"].cases["memory"] = "no_pagefile"  # 75% used from the next probe on
        start = screen.round_at_least(1)
        screen.wait_for(lambda f: _row(f, "win-02")[3:4] == ["75%"], what="win-02 at 75% memory")
        screen.round_at_least(start + 3)
        assert {n: set(d.shells) for n, d in wf.doubles.items()} == shells  # still the same shells
        assert [d.created for d in wf.doubles.values()] == [1, 1]  # one shell per host in all those rounds
        assert screen.quit("q") == 0
        assert _wait_gone(lambda: [s for d in wf.doubles.values() for s in d.shells]) == []
        wf.check_clean()


def test_watch_without_a_terminal_refuses_with_one_line_and_exit_2(env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "rmmctl", "watch"], capture_output=True, text=True,
                          env={**os.environ, **env, "PYTHONPATH": SRC}, stdin=subprocess.DEVNULL, timeout=30)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "rmmctl: error: watch draws a live dashboard and needs a terminal (stdout is not one); "
        "use status -o ndjson in a loop instead"]


def test_watch_on_the_local_machine_with_no_inventory(env: dict[str, str], screens: list[Screen]) -> None:
    screen = Screen(["--interval", "0.5", "--no-record"], env)  # the embedded default: this machine, local
    screens.append(screen)
    frame = screen.wait_for(lambda f: _row(f, "localhost")[1:2] in ANSWERED_CELL, what="localhost answered")
    assert "connections: 1 open, 1 opened" in frame
    assert screen.quit("q") == 0


def test_verbose_lines_go_to_the_log_pane_not_over_the_frame(
        own_fleet: Fleet, env: dict[str, str], tmp_path: Path, screens: list[Screen]) -> None:
    inv = own_fleet.write_inventory(tmp_path / "inv.yaml", hosts=[3])
    log_file = tmp_path / "watch.log"
    screen = Screen(["-i", str(inv), "--interval", "0.3", "--no-record", "-v", "--log-file", str(log_file)], env)
    screens.append(screen)
    frame = screen.wait_for(lambda f: _round(f) >= 2 and "watch-03: exec" in f and "q quits" in f,
                            what="a round's exec line in the log pane")
    lines = [line.rstrip() for line in frame.splitlines() if line.strip()]
    assert lines[0].startswith("rmmctl watch all") and "q quits" in lines[-1], frame  # nothing drawn over it
    pane = lines.index("Log (-v; newest last)")
    assert pane > 0 and all(" INFO rmmctl." in line for line in lines[pane + 1:-1]), frame
    assert screen.quit("q") == 0
    assert "watch-03: exec" in log_file.read_text()  # the log file has every line, as with any command
