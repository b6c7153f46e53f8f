"""Host tokens of Ansible inventories: `name:port`, `[v6]:port` and ranges like web[01:20] or db-[a:c]."""

from __future__ import annotations

import ipaddress
import re
import string

from rmmctl.inventory.conn import BadValue, port_value

MAX_RANGE_HOSTS = 100_000
_RANGE_RE = re.compile(r"^(.*?)\[([^\]]*)\](.*)$")
_PORT_RE = re.compile(r"^(?P<name>(?:[^:\[\]]|\[[^\]]*\])+?)(?::(?P<port>\d+))?$")


def expand_hosts(token: str) -> tuple[list[str], int | None]:
    """A host token (`web[01:03].example:2222`, `[::1]:22`, `db-[a:c]`) -> names and port; raises BadValue."""
    try:
        ipaddress.ip_address(token)
        return [token], None
    except ValueError:
        pass
    v6 = re.match(r"^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$", token)
    if v6 and is_ip(v6.group(1)):
        return [v6.group(1)], _port_of(v6.group(2), token)
    m = _PORT_RE.match(token)
    if not m or token.endswith(":"):
        raise BadValue(f"bad host {token!r}", "expected NAME, NAME:PORT or a range like web[01:20]")
    return expand_ranges(m["name"]), _port_of(m["port"], token)


def is_ip(text: str) -> bool:
    """True for an IPv4 or IPv6 address literal."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port_of(text: str | None, token: str) -> int | None:
    if text is None:
        return None
    port = port_value(text)
    if port is None:
        raise BadValue(f"bad port in {token!r}", "expected an integer port 1..65535")
    return port


def expand_ranges(name: str) -> list[str]:
    """Expand `[01:20]`, `[a:c]` and `[1:9:2]` ranges (inclusive, zero padding kept); raises BadValue."""
    m = _RANGE_RE.match(name)
    if not m:
        return [name]
    head, spec, tail = m.groups()
    values = _range_values(spec, name)
    tails = expand_ranges(tail)
    if len(values) * len(tails) > MAX_RANGE_HOSTS:
        raise BadValue(f"range {name!r} makes more than {MAX_RANGE_HOSTS} hosts", "expected a smaller range")
    return [f"{head}{v}{t}" for v in values for t in tails]


def _range_values(spec: str, name: str) -> list[str]:
    expected = "expected [START:END] or [START:END:STEP] like web[01:20] or db-[a:c]"
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[1] or (len(parts) == 3 and not parts[2].isdigit()):
        raise BadValue(f"bad range in {name!r}", expected)
    beg, end, step = parts[0] or "0", parts[1], int(parts[2]) if len(parts) == 3 else 1
    if step < 1:
        raise BadValue(f"bad range step in {name!r}", "expected a step of 1 or more")
    if beg.isdigit() and end.isdigit():
        if int(beg) > int(end) or int(end) - int(beg) >= MAX_RANGE_HOSTS * step:
            raise BadValue(f"bad range in {name!r}", "expected START <= END and at most 100000 hosts")
        width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
        if width and len(end) != width:
            raise BadValue(
                f"zero-padded range {name!r} has begin and end of different widths", "expected e.g. [01:20]"
            )
        return [str(i).zfill(width) for i in range(int(beg), int(end) + 1, step)]
    letters = string.ascii_letters
    if (
        len(beg) == 1
        and len(end) == 1
        and beg in letters
        and end in letters
        and letters.index(beg) <= letters.index(end)
    ):
        return list(letters[letters.index(beg) : letters.index(end) + 1 : step])
    raise BadValue(f"bad range in {name!r}", expected)
