"""Load an inventory file (rmmctl YAML, Ansible YAML or Ansible INI, told apart by content)."""

from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.inventory.ansible import GROUP_KEYS, parse_ansible_yaml, parse_ini
from rmmctl.inventory.model import Group, Host, Inventory
from rmmctl.inventory.msp import TOP_KEYS, parse_msp
from rmmctl.inventory.parse import MarkedMap, Source, YamlSyntaxError, check_duplicates, describe, load_yaml

_INI_SECTION = re.compile(r"^\[[^\]\s]+\]\s*([#;].*)?$")
_INI_HOST = re.compile(r"^[^\s=]+(\s+[^\s=]+=.*)?\s*$")


def load_inventory(path: str | Path | None) -> Inventory:
    """The inventory at `path`, or the embedded default (this machine, local transport) for None."""
    if path is None:
        return default_inventory()
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"inventory {file}: no such file; pass -i PATH or set RMMCTL_INVENTORY") from None
    except IsADirectoryError:
        raise ConfigError(f"inventory {file}: is a directory; expected an inventory file") from None
    except OSError as exc:
        raise ConfigError(f"inventory {file}: cannot read it: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    return parse_inventory(text, file)


def parse_inventory(text: str, path: Path) -> Inventory:
    """Parse inventory text whose format is picked by content; `path` names it and anchors relative paths."""
    src = Source(path)
    try:
        data = load_yaml(text, src)
    except YamlSyntaxError as exc:
        if looks_like_ini(text):
            return parse_ini(text, src)
        raise exc.error from None
    if isinstance(data, MarkedMap) and data:
        check_duplicates(data, src)
        return parse_msp(data, src) if is_msp(data) else parse_ansible_yaml(data, src)
    if looks_like_ini(text):
        return parse_ini(text, src)
    if data is None or data == {}:
        raise src.error(0, "", "the inventory is empty", "expected hosts: see docs/inventory.md")
    raise src.error(
        getattr(data, "line", 1),
        "",
        f"the top level is {describe(data)}",
        "expected a mapping with clients/hosts/groups (rmmctl) or all/children (Ansible), or INI text",
    )


def is_msp(data: dict[str, Any]) -> bool:
    """True for the rmmctl format; False when the top level looks like Ansible groups."""
    if "all" in data:
        return False
    if any(key in TOP_KEYS for key in data):
        return True
    return not all(_looks_ansible_group(value) for value in data.values())


def _looks_ansible_group(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and all(key in GROUP_KEYS for key in value))


def looks_like_ini(text: str) -> bool:
    """True when the first meaningful line is an INI section or an Ansible `host key=value` line."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line == "---" or line.endswith(":"):
            return False
        return bool(_INI_SECTION.match(line) or _INI_HOST.match(line))
    return False


def default_inventory() -> Inventory:
    """The embedded default: one host `localhost` (127.0.0.1) reached through the local transport."""
    system = platform.system().lower()
    host = Host(
        name="localhost",
        address="127.0.0.1",
        connection="local",
        os=system if system in ("linux", "windows", "darwin", "freebsd", "openbsd", "netbsd") else None,
        groups=("ungrouped",),
    )
    groups = {
        "all": Group("all", children=("ungrouped",)),
        "ungrouped": Group("ungrouped", hosts=("localhost",)),
    }
    return Inventory(hosts={"localhost": host}, groups=groups, source=None, format="embedded")
