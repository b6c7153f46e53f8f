"""The SSH wire line: a command given as shlex-quoted words runs without an `sh -c` level, and the
shell reads those words exactly as shlex wrote them (checked with the real /bin/sh)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from rmmctl.probes.linux import bundle
from rmmctl.transports.ssh.exec import _argv

TRICKY = [
    ["echo", "plain"],
    ["sh", "-c", "echo 'single' \"double\" $HOME `id` $(touch /tmp/rmmctl-wire-must-not-exist); x"],
    ["printf", "%s\n", "it's", "", " lead", "trail ", "a\nb", "tab\there", "*", "?", "[a]", "~", "#c", "!"],
    ["env", "--", "a=b"],
]


@pytest.mark.parametrize("argv", TRICKY)
def test_quoted_words_go_to_set_as_they_are_and_the_shell_reads_the_same_words(argv: list[str]) -> None:
    line = shlex.join(argv)
    assert _argv(line) == line  # no `sh -c` level
    out = subprocess.run(["/bin/sh", "-c", f"set -- {_argv(line)}; printf '%s\\0' \"$@\""], capture_output=True,
                         check=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in argv]


@pytest.mark.parametrize("line", ["echo $(id)", "a | b", "cd /tmp", "A=1 env", "echo 'open", "x;y", "echo  two"])
def test_shell_syntax_keeps_its_sh_c_level(line: str) -> None:
    assert _argv(line) == f"sh -c {shlex.quote(line)}"


def test_the_probe_travels_in_the_command_not_on_stdin() -> None:
    script = bundle.build_script(["host", "uptime"], nonce="0123456789abcdef")
    command = bundle.probe_command(script)
    assert _argv(command) == command and shlex.split(command) == ["sh", "-c", script]
    out = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    assert "@@0123456789abcdef DONE" in out.stdout


@pytest.mark.parametrize("line", ["A" * 200_000 + " |", "yes " + "A" * 100_000 + " | head -c 2", "'" + "a'\"'\"'" * 20_000])
def test_telling_words_from_shell_syntax_takes_linear_time(line: str) -> None:
    """A long line (a 200 KB argument, a flood command) is judged in well under a second, never by a
    backtracking regex (one such line once held a run for minutes)."""
    import time

    started = time.process_time()
    _argv(line)
    assert time.process_time() - started < 0.5
