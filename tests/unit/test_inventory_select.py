"""Host patterns: Ansible's grammar plus key=value selectors, results in inventory order."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory import Inventory, default_inventory, host_vars, load_inventory, parse_inventory, select_hosts
from rmmctl.inventory.select import split_pattern

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"
ALL = ["jump01", "print01", "dc01", "laptop-ceo", "fs01", "standalone"]


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(FIXTURES / "msp.yaml")


def names(inv: Inventory, pattern: str) -> list[str]:
    return [h.name for h in select_hosts(inv, pattern)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", ALL),
        ("*", ALL),
        ("jump01", ["jump01"]),
        ("acme", ["jump01", "print01", "dc01", "laptop-ceo"]),  # a client, with its sites
        ("acme/hq", ["jump01", "print01", "dc01"]),  # a site group
        ("servers", ["print01", "fs01"]),  # a group with its children's hosts
        ("ungrouped", ["standalone"]),
        # unions, in inventory order whatever the pattern order
        ("fs01:jump01", ["jump01", "fs01"]),
        ("fs01,jump01", ["jump01", "fs01"]),
        ("windows:linux", ["jump01", "print01", "dc01", "laptop-ceo", "fs01"]),
        # intersections and exclusions
        ("acme:&linux", ["jump01", "print01", "laptop-ceo"]),
        ("acme:!linux", ["dc01"]),
        ("all:!acme", ["fs01", "standalone"]),
        ("!acme", ["fs01", "standalone"]),  # no union term means all
        ("&windows", ["dc01", "fs01"]),
        ("acme:&linux:!print01", ["jump01", "laptop-ceo"]),
        ("!print01:acme:&linux", ["jump01", "laptop-ceo"]),  # unions, then &, then !, whatever the order
        # globs and regexes
        ("*01", ["jump01", "print01", "dc01", "fs01"]),
        ("?c01", ["dc01"]),
        ("~(jump|fs)0[0-9]", ["jump01", "fs01"]),
        ("~.*ceo", ["laptop-ceo"]),
        ("acme/*", ["jump01", "print01", "dc01"]),
        # subscripts like Ansible
        ("acme[0]", ["jump01"]),
        ("acme[-1]", ["laptop-ceo"]),
        ("acme[1:2]", ["print01", "dc01"]),
        ("acme[2:]", ["dc01", "laptop-ceo"]),
        # selectors
        ("os=windows", ["dc01", "fs01"]),
        ("os=lin*", ["jump01", "print01", "laptop-ceo"]),
        ("tag=printserver", ["print01"]),
        ("tag=c*", ["print01"]),
        ("client=globex", ["fs01"]),
        ("site=hq", ["jump01", "print01", "dc01"]),
        ("site=acme/hq", ["jump01", "print01", "dc01"]),
        ("connection=winrm", ["dc01", "fs01"]),
        ("group=servers", ["print01", "fs01"]),
        ("acme:&os=linux:!tag=printserver", ["jump01", "laptop-ceo"]),
    ],
)
def test_patterns(inv: Inventory, pattern: str, expected: list[str]) -> None:
    assert names(inv, pattern) == expected


def test_split_keeps_brackets_and_ipv6() -> None:
    assert split_pattern("web[1:3]:&db") == ["web[1:3]", "&db"]
    assert split_pattern("2001:db8::1") == ["2001:db8::1"]
    assert split_pattern("a, b:!c") == ["a", "b", "!c"]


def test_default_inventory_selects_localhost() -> None:
    assert names(default_inventory(), "localhost") == ["localhost"]
    assert names(default_inventory(), "all") == ["localhost"]


def test_ipv6_host_names_are_not_split() -> None:
    inv = parse_inventory("[v6]\n2001:db8::5\n2001:db8::6\n", Path("hosts"))
    assert names(inv, "2001:db8::5") == ["2001:db8::5"]
    assert names(inv, "v6,!2001:db8::5") == ["2001:db8::6"]  # with IPv6, separate terms by commas


def test_pattern_matching_nothing(inv: Inventory) -> None:
    with pytest.raises(ConfigError) as info:
        select_hosts(inv, "acme:&globex")
    assert str(info.value) == (
        f"pattern 'acme:&globex' matches no host in {FIXTURES / 'msp.yaml'}; try `rmmctl inventory list`"
    )


def test_unknown_name_is_an_error_with_suggestion(inv: Inventory) -> None:
    with pytest.raises(ConfigError) as info:
        select_hosts(inv, "all:!jump1")  # a typo in an exclusion must not silently select jump01
    assert str(info.value) == (
        f"pattern 'all:!jump1' matches no host in {FIXTURES / 'msp.yaml'}: 'jump1' names no host or group "
        "(did you mean 'jump01'?); try `rmmctl inventory list`"
    )


def test_selector_matching_nothing_is_an_error(inv: Inventory) -> None:
    with pytest.raises(ConfigError, match=r"'os=darwin' names no host or group"):
        select_hosts(inv, "os=darwin")


def test_empty_group_is_not_a_typo() -> None:
    inv = load_inventory(FIXTURES / "msp.yaml")
    with pytest.raises(ConfigError, match=r"^pattern 'globex:&acme/hq' matches no host in .*msp.yaml; try"):
        select_hosts(inv, "globex:&acme/hq")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("~web(", r"^pattern '~web\(': bad regular expression 'web\(': missing \), unterminated subpattern"),
        ("~web[", r"^pattern '~web\[': unbalanced brackets in '~web\['"),
        (
            "role=db",
            (
                r"^pattern 'role=db': unknown selector 'role='; "
                r"expected os=, tag=, client=, site=, connection=, group="
            ),
        ),
        ("tags=x", r"unknown selector 'tags=' \(did you mean 'tag'\?\)"),
        ("os=", r"selector 'os=' needs a value"),
        ("", r"^empty pattern ''"),
        ("all:!", r"'!' needs a name after it"),
    ],
)
def test_bad_patterns(inv: Inventory, pattern: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select_hosts(inv, pattern)


def test_embedded_default_names_itself_in_errors() -> None:
    with pytest.raises(ConfigError, match="in the embedded default inventory"):
        select_hosts(default_inventory(), "web*")


def test_large_inventories_load_and_select_in_linear_time() -> None:
    import time

    text = "[web]\nweb[00001:15000].example\n[db]\ndb[0001:5000].example\n[prod:children]\nweb\ndb\n"
    started = time.perf_counter()
    inv = parse_inventory(text, Path("hosts"))
    selected = select_hosts(inv, "prod:!db:&web*")
    assert (len(inv.hosts), len(selected)) == (20000, 15000)
    assert time.perf_counter() - started < 3.0  # the first, quadratic version needed about 7 s


# ------------------------------------------------------------------ short names (B4)


def _fqdn_inventory(tmp_path: Path) -> Inventory:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "hosts:\n"
        "  web01.acme.example: {address: 192.0.2.1}\n"
        "  db01.acme.example: {address: 192.0.2.2}\n"
        "  db01.globex.example: {address: 192.0.2.3}\n"
        "  app01: {address: 192.0.2.4}\n"
        "  app01.acme.example: {address: 192.0.2.5}\n"
    )
    return load_inventory(path)


def test_a_unique_short_name_matches_its_fqdn(tmp_path: Path) -> None:
    inv = _fqdn_inventory(tmp_path)
    assert [h.name for h in select_hosts(inv, "web01")] == ["web01.acme.example"]
    assert [h.name for h in select_hosts(inv, "web01,db01.acme.example")] == ["web01.acme.example", "db01.acme.example"]
    assert [h.name for h in select_hosts(inv, "all:!web01")][0] == "db01.acme.example"
    assert [h.name for h in select_hosts(inv, "app01")] == ["app01"]  # an exact name wins over a short one
    assert host_vars(inv, "web01")["name"] == "web01.acme.example"


def test_an_ambiguous_short_name_is_an_error_listing_the_candidates(tmp_path: Path) -> None:
    inv = _fqdn_inventory(tmp_path)
    with pytest.raises(ConfigError) as info:
        select_hosts(inv, "db01")
    assert str(info.value) == (
        f"'db01' is ambiguous in {inv.source}: it is short for db01.acme.example, db01.globex.example; "
        "write the full name"
    )
    with pytest.raises(ConfigError, match="'db01' is ambiguous"):
        host_vars(inv, "db01")


def test_no_match_suggests_the_full_name_of_a_close_short_name(tmp_path: Path) -> None:
    inv = _fqdn_inventory(tmp_path)
    with pytest.raises(ConfigError, match=r"'web1' names no host or group \(did you mean 'web01.acme.example'\?\)"):
        select_hosts(inv, "web1")
    with pytest.raises(ConfigError, match="unknown host 'web1'"):
        host_vars(inv, "web1")
