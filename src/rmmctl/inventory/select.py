"""Host patterns with Ansible's grammar (a:b, a:&b, a:!b, globs, ~regex, [i:j]) plus key=value selectors."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

from rmmctl.errors import ConfigError
from rmmctl.inventory.model import Host, Inventory
from rmmctl.inventory.hostnames import is_ip
from rmmctl.inventory.parse import did_you_mean

SELECTORS = ("os", "tag", "client", "site", "connection", "group")
_TERM_RE = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_SUBSCRIPT_RE = re.compile(r"^(.+)\[(?:(-?\d+)|(\d*)\s*:\s*(-?\d*))\]$")


def select_hosts(inv: Inventory, pattern: str) -> list[Host]:
    """The hosts `pattern` selects, in inventory order; ConfigError if it is malformed or matches nothing."""
    terms = split_pattern(pattern)
    if not terms:
        raise ConfigError(
            f"empty pattern {pattern!r}; expected e.g. all, web*, acme:&os=linux or 'all:!db01'"
        )
    chosen: set[str] = set()
    for term in _ordered(terms):
        op, body = (term[0], term[1:]) if term[0] in "!&" else ("", term)
        if not body:
            raise ConfigError(
                f"pattern {pattern!r}: '{term}' needs a name after it; expected e.g. 'all:!db01'"
            )
        names = set(_match_checked(inv, body, pattern))
        if op == "!":
            chosen -= names
        elif op == "&":
            chosen &= names
        else:
            chosen |= names
    hosts = [h for n, h in inv.hosts.items() if n in chosen]
    if not hosts:
        raise ConfigError(
            f"pattern {pattern!r} matches no host in {_where(inv)}; try `rmmctl inventory list`"
        )
    return hosts


def split_pattern(pattern: str) -> list[str]:
    """Split on ',' and ':' (not inside [..], not inside an IPv6 address) like Ansible."""
    terms: list[str] = []
    for chunk in pattern.split(","):
        chunk = chunk.strip()
        if is_ip(chunk.lstrip("!&")):
            terms.append(chunk)
        elif chunk:
            found = _TERM_RE.findall(chunk)
            if re.sub(r"[\s:]", "", "".join(found)) != re.sub(r"[\s:]", "", chunk):
                raise ConfigError(
                    f"pattern {pattern!r}: unbalanced brackets in {chunk!r}; "
                    "expected web[1:3] (a subscript) or web[0-9]* (a glob)"
                )
            terms += found
    return terms


def _ordered(terms: list[str]) -> list[str]:
    """Unions first, then intersections, then exclusions; `all` when there is no union."""
    unions = [t for t in terms if t[0] not in "!&"]
    return (unions or ["all"]) + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]


def _where(inv: Inventory) -> str:
    return str(inv.source) if inv.source is not None else "the embedded default inventory"


def short_name(name: str, names: Iterable[str], where: str) -> str | None:
    """The one name of `names` that is `name` plus a domain (`web01` -> `web01.acme.example`), None when
    none is; ConfigError listing the candidates when several are."""
    if not name or any(c in name for c in "*?[]~=!&:,") or name.endswith("."):
        return None
    found = [n for n in names if n.startswith(name + ".")]
    if len(found) > 1:
        shown = ", ".join(found[:10]) + (f" ... and {len(found) - 10} more" if len(found) > 10 else "")
        raise ConfigError(
            f"'{name}' is ambiguous in {where}: it is short for {shown}; write the full name"
        )
    return found[0] if found else None


def _match_checked(inv: Inventory, term: str, pattern: str) -> list[str]:
    names = match_term(inv, term, pattern)
    if names or term in inv.groups:
        return names
    full = short_name(term, inv.hosts, _where(inv))
    if full is not None:
        return [full]
    hint = "" if "=" in term else _hint(term, inv)
    raise ConfigError(
        f"pattern {pattern!r} matches no host in {_where(inv)}: '{term}' names no host or group"
        f"{hint}; try `rmmctl inventory list`"
    )


def _hint(term: str, inv: Inventory) -> str:
    """Did-you-mean over group and host names, then over hosts' short names (`app1` -> app01.globex...)."""
    hint = did_you_mean(term, [*inv.groups, *inv.hosts])
    if hint:
        return hint
    shorts: dict[str, str] = {}
    for name in inv.hosts:
        shorts.setdefault(name.split(".", 1)[0], name)
    close = did_you_mean(term, shorts)
    return close and f" (did you mean '{shorts[close.split(chr(39))[1]]}'?)"


def match_term(inv: Inventory, term: str, pattern: str = "") -> list[str]:
    """Host names one term matches (no operator), in inventory order."""
    pattern = pattern or term
    if term in ("all", "*"):
        return list(inv.hosts)
    if "=" in term and not term.startswith("~"):
        return _selector(inv, term, pattern)
    base, subscript = _split_subscript(term)
    names = _enumerate(inv, base, pattern)
    return _apply_subscript(names, subscript) if subscript else names


def _enumerate(inv: Inventory, term: str, pattern: str) -> list[str]:
    """Like Ansible: groups the term matches, then hosts when no group did or the term is a glob/regex."""
    matches = _matcher(term, pattern)
    groups = {g for g in inv.groups if matches(g)}
    found = {n for n, h in inv.hosts.items() if "all" in groups or groups.intersection(h.groups)}
    if not groups or term[0] == "~" or any(c in term for c in ".?*["):
        found |= {n for n in inv.hosts if matches(n)}
    return [n for n in inv.hosts if n in found]


def _matcher(term: str, pattern: str) -> Callable[[str], bool]:
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise ConfigError(
                f"pattern {pattern!r}: bad regular expression {term[1:]!r}: {exc}; "
                "expected a Python regex after '~', matched from the start of the name"
            ) from None
        return lambda name: regex.match(name) is not None
    if any(c in term for c in "?*["):
        return lambda name: fnmatch.fnmatchcase(name, term)
    return lambda name: name == term


def _split_subscript(term: str) -> tuple[str, tuple[int, int | None] | None]:
    m = _SUBSCRIPT_RE.match(term)
    if not m or term.startswith("~"):
        return term, None
    base, index, start, end = m.groups()
    if index is not None:
        return base, (int(index), None)
    return base, (int(start or 0), int(end) if end else -1)


def _apply_subscript(names: list[str], subscript: tuple[int, int | None]) -> list[str]:
    """Ansible's group[i] and group[i:j] (j inclusive; empty j = to the end)."""
    start, end = subscript
    if end is None:
        return [names[start]] if -len(names) <= start < len(names) else []
    if end == -1:
        end = len(names) - 1
    return names[start : end + 1]


def _selector(inv: Inventory, term: str, pattern: str) -> list[str]:
    key, _, value = term.partition("=")
    if key not in SELECTORS:
        raise ConfigError(
            f"pattern {pattern!r}: unknown selector '{key}='{did_you_mean(key, SELECTORS)}; expected "
            + ", ".join(f"{s}=" for s in SELECTORS)
        )
    if not value:
        raise ConfigError(f"pattern {pattern!r}: selector '{key}=' needs a value; expected e.g. {key}=NAME")
    return [
        n
        for n, h in inv.hosts.items()
        if any(fnmatch.fnmatchcase(v, value) for v in _selector_values(h, key))
    ]


def _selector_values(host: Host, key: str) -> list[str]:
    if key == "tag":
        return list(host.tags)
    if key == "group":
        return ["all", *host.groups]
    if key == "site":
        return [host.site, f"{host.client}/{host.site}"] if host.site else []
    value = {"os": host.os, "client": host.client, "connection": host.connection}[key]
    return [value] if value else []
