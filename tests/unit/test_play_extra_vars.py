"""`-e @vars.yaml` and `-e key=value`: types kept from the file, repeatable, later wins, bad files located."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rmmctl.cli.play import parse_extra_vars
from rmmctl.errors import ConfigError, UsageError


def test_a_vars_file_keeps_types_and_later_items_win(tmp_path: Path) -> None:
    first = tmp_path / "vars.yaml"
    first.write_text("cleanup_paths: [/tmp, /var/tmp]\ncleanup_older_than_days: 14\nflag: true\nname: one\n")
    second = tmp_path / "more.yml"
    second.write_text("name: two\n")
    got = parse_extra_vars([f"@{first}", "cleanup_older_than_days=3", f"@{second}"])
    assert got == {"cleanup_paths": ["/tmp", "/var/tmp"], "cleanup_older_than_days": "3", "flag": True, "name": "two"}
    assert parse_extra_vars(["name=x", f"@{second}"])["name"] == "two"
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert parse_extra_vars([f"@{empty}"]) == {}


@pytest.mark.parametrize("text, where, word", [
    ("a: 1\n- b\n", ":2", "expected"),
    ("- a\n- b\n", ":1", "expected a mapping of variable names"),
    ("ok: 1\nbad-name: 2\n", ":2: bad-name: bad variable name", ""),
    ("a: 1\na: 2\n", ":2: a: duplicate key", ""),
])
def test_a_bad_vars_file_is_one_located_line(tmp_path: Path, text: str, where: str, word: str) -> None:
    path = tmp_path / "vars.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        parse_extra_vars([f"@{path}"])
    msg = str(info.value)
    assert msg.startswith(f"{path}{where}") and word in msg and "\n" not in msg


def test_a_missing_or_special_file_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="vars file .*no such file"):
        parse_extra_vars([f"@{tmp_path / 'nope.yaml'}"])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="vars file .*a FIFO"):
        parse_extra_vars([f"@{fifo}"])  # never blocks
    with pytest.raises(UsageError):
        parse_extra_vars(["@"])
    with pytest.raises(UsageError):
        parse_extra_vars(["no-equals"])
