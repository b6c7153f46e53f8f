"""The checks every inventory format shares: host names, addresses and known_hosts paths.

The rmmctl, Ansible YAML and Ansible INI readers call the same functions, so a host name with shell
metacharacters or an address with a space is refused whatever format it came in. Each check raises
BadValue (problem, expected); the reader locates it (file:line, key path).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmmctl.inventory.conn import BadValue
from rmmctl.inventory.hostnames import is_ip
from rmmctl.inventory.model import Host
from rmmctl.inventory.parse import NAME_RE, Source, describe

# A DNS name or an IP literal (IPv6 zone ids with '%'): nothing a shell or ssh would read specially.
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9_.:%\-]+$")
NAME_EXPECTED = "expected letters, digits, '.', '-' and '_' (or an IP address)"


def check_host_name(name: Any) -> str:
    """A host name of letters, digits, '.', '-', '_' (not starting with '.' or '-') or an IP literal."""
    if isinstance(name, str) and (NAME_RE.match(name) or is_ip(name)):
        return name
    shown = repr(name) if isinstance(name, str) else describe(name)
    raise BadValue(f"bad host name {shown}", NAME_EXPECTED)


def check_address(value: Any) -> str:
    """An address: one DNS name or IP address, no spaces, newlines or shell metacharacters."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadValue(f"got {describe(value)}", "expected a DNS name or an IP address")
    text = value.strip()
    if not _ADDRESS_RE.match(text) or text[0] in "-.":
        raise BadValue(f"got {value!r}", "expected one DNS name or IP address (no spaces or shell characters)")
    return text


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """'a directory', 'a FIFO' ... for a non-regular st_mode."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_known_hosts(path: str) -> str:
    """A known_hosts path rmmctl can read now and write later (`hostkeys approve`); returns it.

    An existing path must be a readable regular file; a missing one needs an existing parent directory.
    """
    p = Path(path)
    fix = "expected a path to a known_hosts file (`rmmctl hostkeys approve` creates it)"
    try:
        st = p.stat()
    except FileNotFoundError:
        if not p.parent.is_dir():
            raise BadValue(
                f"folder {p.parent} does not exist", "create it, or name a file in an existing folder"
            ) from None
        return path
    except OSError as exc:
        raise BadValue(f"cannot read {path}: {exc.strerror or exc}", fix) from None
    if stat.S_ISDIR(st.st_mode):
        raise BadValue(f"{path} is a directory", f"expected a file path, e.g. {p / 'known_hosts'}")
    if not stat.S_ISREG(st.st_mode):
        raise BadValue(f"{path} is {file_kind(st.st_mode)}", fix)
    if not os.access(p, os.R_OK):
        raise BadValue(f"cannot read {path}: permission denied", "make it readable by the user running rmmctl")
    return path


def validate_hosts(hosts: Mapping[str, Host], src: Source, lines: Mapping[str, tuple[int, str]]) -> None:
    """The checks every format applies to its resolved hosts; raises a located ConfigError."""
    for name, host in hosts.items():
        line, path = lines.get(name, (0, name))
        for key, check, value in (
            ("", check_host_name, name),
            ("address", check_address, host.address),
        ):
            try:
                check(value)
            except BadValue as bad:
                where = f"{path}.{key}" if key else path
                raise src.error(line, where, bad.problem, bad.expected) from None
        known = host.vars.get("known_hosts")
        if known is not None:
            try:
                if not isinstance(known, str) or not known.strip():
                    raise BadValue(f"got {describe(known)}", "expected a path to a known_hosts file")
                check_known_hosts(known)
            except BadValue as bad:
                raise src.error(line, f"{path}.known_hosts", bad.problem, bad.expected) from None
