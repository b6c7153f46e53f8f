"""Load an inventory file (rmmctl YAML, Ansible YAML or Ansible INI, told apart by content)."""

from __future__ import annotations

import os
import platform
import re
import stat
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.inventory.ansible import GROUP_KEYS, parse_ansible_yaml, parse_ini
from rmmctl.inventory.model import Group, Host, Inventory
from rmmctl.inventory.msp import TOP_KEYS, parse_msp
from rmmctl.inventory.parse import (
    MarkedList,
    MarkedMap,
    Source,
    YamlSyntaxError,
    check_duplicates,
    check_text,
    describe,
    load_yaml,
)
from rmmctl.inventory.validate import file_kind

MAX_INVENTORY_BYTES = 10 * 1024 * 1024  # documented in docs/inventory.md ("Limits")

_INI_SECTION = re.compile(r"^\[[^\]\s]+\]\s*([#;].*)?$")
_INI_HOST = re.compile(r"^[^\s=]+(\s+[^\s=]+=.*)?\s*$")


def load_inventory(path: str | Path | None) -> Inventory:
    """The inventory at `path`, or the embedded default (this machine, local transport) for None."""
    if path is None:
        return default_inventory()
    file = Path(path)
    raw = read_limited(file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    return parse_inventory(text, file)


def read_limited(file: Path, limit: int = MAX_INVENTORY_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; ConfigError (one line) otherwise.

    Opened with O_NONBLOCK and checked with fstat on the opened descriptor, so a FIFO cannot hang the
    open and a symlink to /dev/zero or a device is refused before a byte is read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(file, flags)
    except FileNotFoundError:
        raise ConfigError(f"inventory {file}: no such file; pass -i PATH or set RMMCTL_INVENTORY") from None
    except OSError as exc:
        raise ConfigError(f"inventory {file}: cannot read it: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            target = f" (a link to {os.path.realpath(file)})" if os.path.islink(file) else ""
            expected = "expected an inventory file" if stat.S_ISDIR(st.st_mode) else "expected a regular file"
            raise ConfigError(f"inventory {file}: is {file_kind(st.st_mode)}{target}; {expected}")
        if st.st_size > limit:
            raise _too_big(file, limit)
        chunks, total = [], 0
        while total <= limit:  # a file growing while it is read is still capped
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ConfigError(f"inventory {file}: cannot read it: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise _too_big(file, limit)
    return raw


def _too_big(file: Path, limit: int) -> ConfigError:
    return ConfigError(
        f"inventory {file}: larger than {limit // (1024 * 1024)} MiB; split it, or check that it is an inventory"
    )


def parse_inventory(text: str, path: Path) -> Inventory:
    """Parse inventory text whose format is picked by content; `path` names it and anchors relative paths."""
    src = Source(path)
    check_text(text, src)
    try:
        data = load_yaml(text, src)
    except YamlSyntaxError as exc:
        if looks_like_ini(text):
            return parse_ini(text, src)
        raise exc.error from None
    if isinstance(data, MarkedMap) and data:
        check_duplicates(data, src)
        return parse_msp(data, src) if is_msp(data) else parse_ansible_yaml(data, src)
    if data is None or (isinstance(data, (MarkedMap, MarkedList)) and not data):
        raise src.error(0, "", "the inventory is empty", "expected hosts: see docs/inventory.md")
    if isinstance(data, (str, MarkedList)) and looks_like_ini(text):  # `web01` or `[web]` alone is INI
        return parse_ini(text, src)
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
