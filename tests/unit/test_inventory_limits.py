"""Reading an inventory is bounded: only regular files, at most 10 MiB, a capped alias expansion, no NUL.

Real FIFOs, real symlinks to /dev/zero and a real alias bomb; each must fail fast with exit 3 and one
line naming the file.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory import load_inventory
from rmmctl.inventory.load import MAX_INVENTORY_BYTES
from rmmctl.inventory.parse import MAX_ALIAS_NODES

SRC = Path(__file__).resolve().parents[2] / "src"


def _refused(path: Path, match: str) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert time.monotonic() - started < 1.0
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert match in message, message
    return message


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _cli_check(path: Path) -> subprocess.CompletedProcess[str]:
    """`rmmctl inventory check -i PATH` in a subprocess, bounded in time and memory so that a hang or a
    runaway read fails the test instead of blocking it or eating the machine. Run before the in-process
    check for the same reason."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "rmmctl", "inventory", "check", "-i", str(path)],
        capture_output=True, text=True, timeout=20, env=env, stdin=subprocess.DEVNULL,
        preexec_fn=_limit_memory,
    )


def _one_line_exit_3(result: subprocess.CompletedProcess[str], path: Path) -> None:
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in result.stderr


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "inventory.yaml"
    os.mkfifo(fifo)
    _one_line_exit_3(_cli_check(fifo), fifo)
    _refused(fifo, "is a FIFO; expected a regular file")


def test_symlink_to_dev_zero_is_refused_before_reading(tmp_path: Path) -> None:
    link = tmp_path / "inventory.yaml"
    link.symlink_to("/dev/zero")
    _one_line_exit_3(_cli_check(link), link)
    _refused(link, "is a character device (a link to /dev/zero)")


def test_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("hosts:\n  a: {address: 192.0.2.1}\n")
    link = tmp_path / "inventory.yaml"
    link.symlink_to(real)
    assert list(load_inventory(link).hosts) == ["a"]


def test_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "inventory.yaml"
    with big.open("w") as out:
        out.write("hosts:\n  a: {address: 192.0.2.1}\n")
        out.write("#" * 1023 + "\n")
        out.truncate(MAX_INVENTORY_BYTES + 1)
    _one_line_exit_3(_cli_check(big), big)
    _refused(big, "larger than 10 MiB")
    big.write_text("hosts:\n  a: {address: 192.0.2.1}\n" + "#" * (MAX_INVENTORY_BYTES - 64) + "\n")
    assert list(load_inventory(big).hosts) == ["a"]  # at the cap is fine


def _bomb(levels: int = 8, width: int = 9) -> str:
    """A "billion laughs": each anchor lists the previous one `width` times (9^8 = 43 million strings)."""
    lines, prev = [], ""
    for name in "abcdefghij"[:levels]:
        item = f"*{prev}" if prev else '"lol"'
        lines.append(f"{name}: &{name} [{', '.join([item] * width)}]\n")
        prev = name
    return "".join(lines)


def test_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    text = _bomb()
    assert len(text) < 400
    bomb = tmp_path / "inventory.yaml"
    bomb.write_text(text)
    started = time.monotonic()
    result = _cli_check(bomb)
    assert time.monotonic() - started < 10  # the whole CLI, interpreter start included
    _one_line_exit_3(result, bomb)
    message = _refused(bomb, f"aliases expand to more than {MAX_ALIAS_NODES} repeated values")
    assert message.startswith(f"{bomb}:")  # located: FILE:LINE


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("hosts:\n  a:\n    vars: &v {x: *v}\n")
    _refused(path, "an alias refers to a value that contains it")


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    hosts = "".join(f"  h{i}: {{address: 192.0.2.{i}, vars: *common}}\n" for i in range(1, 200))
    path.write_text("x-common: &common {a: 1, b: [1, 2, 3], c: {d: e}}\nhosts:\n" + hosts)
    with pytest.raises(ConfigError, match="x-common: unknown key"):  # anchors live in known keys only
        load_inventory(path)
    text = "defaults:\n  vars: &common {a: 1, b: [1, 2, 3]}\nhosts:\n" + hosts
    path.write_text(text)
    inv = load_inventory(path)
    assert len(inv.hosts) == 199 and inv.hosts["h7"].vars["b"] == [1, 2, 3]


@pytest.mark.parametrize("name", ["inv.yaml", "hosts.ini"])
def test_nul_byte_is_one_line_with_file_line_and_column(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"hosts:\n  a: {}\n  b\x00: {}\n" if name.endswith("yaml") else b"[web]\nw1\nw\x002\n")
    message = _refused(path, "a NUL byte in the text")
    assert message.startswith(f"{path}:3:")
    result = _cli_check(path)
    _one_line_exit_3(result, path)
    assert f"{path}:3:" in result.stderr


def test_other_control_characters_are_located_too(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  a: {address: 192.0.2.1}\n  b: {address: \x1b[31m}\n")
    assert _refused(path, "control character 0x1b").startswith(f"{path}:3:")
