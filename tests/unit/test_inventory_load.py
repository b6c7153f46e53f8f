"""Format detection by content, file reading, and the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.inventory import load_inventory, parse_inventory
from rmmctl.inventory.load import is_msp, looks_like_ini


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("hosts:\n  a: {}\n", "rmmctl"),
        ("clients:\n  acme:\n    hosts: {a: {}}\n", "rmmctl"),
        ("all:\n  hosts:\n    a:\n", "ansible-yaml"),
        ("web:\n  hosts:\n    a:\n", "ansible-yaml"),  # top-level groups without `all:`
        ('{"all": {"hosts": {"a": null}}}', "ansible-yaml"),  # JSON is YAML
        ("a\nb\n", "ansible-ini"),
        ("# comment\n; comment\n[web]\na\n", "ansible-ini"),
        ("a ansible_host=192.0.2.1\n", "ansible-ini"),
        ("[web]\nweb[01:02] x=1\n[web:vars]\ny = two words\n", "ansible-ini"),
    ],
)
def test_format_by_content(text: str, fmt: str) -> None:
    assert parse_inventory(text, Path("inventory")).format == fmt


def test_is_msp_and_looks_like_ini() -> None:
    assert is_msp({"hosts": {"a": None}})
    assert not is_msp({"all": None})
    assert is_msp({"clientz": {"acme": {}}})  # so the rmmctl parser reports the typo
    assert not looks_like_ini("all:\n  hosts:\n")
    assert not looks_like_ini("---\nhosts: {}\n")
    assert looks_like_ini("[all:vars]\nx=1\n")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes("\ufeffhosts:\n  a: {}\n".encode())
    assert list(load_inventory(path).hosts) == ["a"]


def test_source_is_the_path_given(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("hosts:\n  a: {}\n")
    assert load_inventory(str(path)).source == path
