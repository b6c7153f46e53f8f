"""The SSH wire line: a command given as shlex-quoted words runs without an `sh -c` level, and the
shell reads those words exactly as shlex wrote them (checked with the real /bin/sh)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from rmmctl.probes import bundle
from rmmctl.transports.sshexec import _argv

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
