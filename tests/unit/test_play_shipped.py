"""Shipped playbooks by name (`rmmctl play motd`) and `rmmctl play --list`: a path that exists wins, a bare
name looks in the package's data/playbooks, an unknown one is one line listing the shipped names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rmmctl
from rmmctl.errors import ConfigError
from rmmctl.playbooks.shipped import SHIPPED_DIR, description_of, resolve_playbook, shipped_names, shipped_playbooks
from conftest import cli

SHIPPED = Path(rmmctl.__file__).parent / "data" / "playbooks"


def test_a_bare_name_is_the_shipped_playbook_and_an_existing_path_wins(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert SHIPPED_DIR == SHIPPED.resolve()
    assert resolve_playbook("motd") == SHIPPED_DIR / "motd.yaml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "motd").write_text("hosts: all\ntasks: []\n")
    assert resolve_playbook("motd") == Path("motd")  # a file here of that name wins
    assert resolve_playbook("other.yaml") == Path("other.yaml")  # a file name is never looked up: no such file later
    assert resolve_playbook("sub/motd") == Path("sub/motd")


def test_an_unknown_name_lists_the_shipped_ones_and_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_playbook("mtod")
    msg = str(info.value)
    assert "no playbook 'mtod'" in msg and "did you mean motd" in msg and "\n" not in msg
    assert f"shipped: {', '.join(shipped_names())}" in msg


def test_every_shipped_playbook_has_a_description_and_loads() -> None:
    books = shipped_playbooks()
    assert [b.name for b in books] == shipped_names() and "motd" in shipped_names()
    for book in books:
        assert book.error is None, book.error
        assert book.description and not book.description.startswith(book.name), book.name
    motd = next(b for b in books if b.name == "motd")
    assert motd.vars["motd_file"] == "/etc/motd" and motd.description.startswith("a login banner")


def test_description_is_header_line_one(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("# x.yaml: does x.\n# What it does: ...\nhosts: all\n")
    assert description_of(path) == "does x."
    path.write_text("hosts: all\n")
    assert description_of(path) == ""


def test_play_list_as_table_and_json() -> None:
    table = cli("play", "--list")
    assert table.exit_code == 0, table.output
    assert "motd" in table.stdout and "motd_contact=" in table.stdout
    doc = json.loads(cli("play", "--list", "-o", "json").stdout)
    assert doc["command"] == "play list"
    motd = next(p for p in doc["playbooks"] if p["name"] == "motd")
    assert motd["vars"]["motd_contact"] == "your IT provider" and motd["hosts"] == "linux"
    missing = cli("play")
    assert missing.exit_code == 2 and "--list" in missing.stderr


def test_a_file_shadowing_a_shipped_name_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "motd").write_text("just a banner\n")
    result = cli("play", "motd", "--check")
    assert result.exit_code == 3
    assert "not the shipped playbook motd: that one is " + str(SHIPPED_DIR / "motd.yaml") in result.stderr
