"""Display values for people (sizes, durations, local times, cut-off lists, short error reasons), raw for machines."""

from __future__ import annotations

import time

import pytest

from rmmctl.formats import iso_utc
from rmmctl.render.values import (
    capped,
    duration_text,
    human,
    iso_out,
    kib_text,
    local_from,
    local_time,
    more_text,
    parse_time,
    plain,
    short_reason,
    size_text,
)

T0 = 1_714_564_800.1234  # 2024-05-01T12:00:00.123Z


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_sizes_in_binary_units() -> None:
    assert size_text(0) == "0 B" and size_text(1023) == "1023 B" and size_text(1536) == "1.5 KiB"
    assert kib_text(24683652) == "23.5 GiB" and kib_text(2048) == "2.0 MiB" and kib_text(None) == "-"
    assert kib_text(264212084) == "252.0 GiB" and size_text(5 * 1024**5) == "5.0 PiB"


def test_durations_take_the_two_largest_units() -> None:
    assert duration_text(3 * 86400 + 4 * 3600 + 59) == "3d 4h"
    assert duration_text(5 * 3600 + 12 * 60) == "5h 12m" and duration_text(42 * 60 + 5) == "42m"
    assert duration_text(37.9) == "37s" and duration_text(None) == "-" and duration_text(float("nan")) == "-"


def test_local_time_names_its_zone(berlin: None) -> None:
    assert local_time(T0) == "2024-05-01 14:00:00 CEST"
    assert local_time(T0 - 120 * 86400) == "2024-01-02 13:00:00 CET"
    assert local_from("2024-05-01T12:00:00.123456Z") == "2024-05-01 14:00:00 CEST"  # the store's text
    assert local_from(None) == "-" and local_time(None) == "-"


def test_a_zone_without_an_abbreviation_shows_its_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "<+0530>-05:30")
    time.tzset()
    try:
        assert local_time(T0) == "2024-05-01 17:30:00 UTC+05:30"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_every_timestamp_a_script_sees_is_one_format() -> None:
    expected = iso_utc(T0)
    assert expected == "2024-05-01T12:00:00.123Z"
    for stored in ("2024-05-01T12:00:00.123400Z", "2024-05-01T12:00:00.1234+00:00", "2024-05-01 14:00:00.123400+02:00"):
        assert iso_out(stored) == expected, stored
    assert iso_out(None) is None and iso_out("not a time") == "not a time" and iso_out(3) == 3
    assert parse_time("2024-05-01T12:00:00.123Z") == pytest.approx(1_714_564_800.123)


def test_cut_lists_say_how_many_more() -> None:
    shown, hidden = capped(list(range(91)), 20)
    assert shown == list(range(20)) and hidden == 71 and more_text(hidden) == "... and 71 more"
    assert capped([1, 2], 20) == ([1, 2], 0)
    assert capped(list(range(20)), 20, total=91) == (list(range(20)), 71)  # the list itself was already cut


def test_plain_values_never_show_python_reprs() -> None:
    assert plain(None) == "-" and plain(True) == "yes" and plain(False) == "no" and plain("") == "-"
    assert plain(["a", "b"]) == "a, b" and plain([]) == "-" and plain({"x": 1, "y": None}) == "x: 1, y: -"
    assert plain(0.1 + 0.2) == "0.3" and plain(2.0) == "2" and plain(float("inf")) == "-"
    assert plain(list(range(25))).endswith("19, ... and 5 more")
    for value in ([None, True], {"a": [1, None]}, ("x",), {"k"}):
        text = plain(value)
        assert "None" not in text and "[" not in text and "{" not in text and "'" not in text, text


def test_human_facts_by_unit(berlin: None) -> None:
    assert human("total_kb", 24683652) == "23.5 GiB" and human("rss_kb", 52316) == "51.1 MiB"
    assert human("seconds", 273600.5) == "3d 4h" and human("boot_time", T0) == "2024-05-01 14:00:00 CEST"
    assert human("epoch", T0) == "2024-05-01 14:00:00 CEST" and human("lists_mtime", None) == "-"
    assert human("used_pct", 21.5) == "21.5%" and human("skew_s", 0.004) == "0.004 s"
    assert human("read_only", False) == "no" and human("load1", 1.32) == "1.32" and human("count", 2) == "2"
    assert human("size", 2048) == "2.0 KiB"


@pytest.mark.parametrize(("kind", "message", "reason"), [
    ("connect", "web1 (192.0.2.1:22): connection refused by 192.0.2.1:22; is sshd running on that port?",
     "unreachable: connection refused"),
    ("connect", "web1: cannot resolve 'web1.nowhere' (Name or service not known); check its address",
     "unreachable: unknown host name"),
    ("connect", "web1: no answer from 192.0.2.1:22 within 5.0 s; is it up?", "unreachable: no answer"),
    ("connect", "web1: cannot connect to 192.0.2.1:22: No route to host", "unreachable: no route to host"),
    ("connect", "web1: SSH handshake failed (Error reading SSH protocol banner); is this port an SSH server?",
     "unreachable: not an SSH server"),
    ("connect", "web1: connection lost while the command ran; check the host", "unreachable: connection lost"),
    ("connect", "web1: something new", "unreachable"),
    ("auth", "root@web1:22: authentication failed for user root (tried: key_file /k, agent (2 keys)); check key_file",
     "auth: key rejected"),
    ("auth", "root@web1:22: authentication failed for user root (tried: password); check key_file",
     "auth: password rejected"),
    ("auth", "web1: authentication failed for user root (tried: agent, password); check", "auth: key and password rejected"),
    ("auth", "web1: authentication failed for user root (tried: nothing: no usable key_file, agent key or ~/.ssh "
     "key, and no password); check", "auth: no key or password"),
    ("auth", "web1: authentication failed (tried: key_file /k); /k: wrong passphrase or not a private key",
     "auth: key passphrase"),
    ("host_key", "web1: unknown host key (ssh-ed25519 SHA256:x); run `rmmctl hostkeys scan web1`", "host key unknown"),
    ("host_key", "web1: HOST KEY CHANGED: /k has ssh-rsa SHA256:a but the server now offers", "host key changed"),
    ("host_key", "web1: host key ssh-rsa SHA256:a is marked @revoked in /k; refusing", "host key revoked"),
    ("timeout", "web1: command did not finish within 120.0 s", "timeout"),
    ("interrupted", "not started", "interrupted"),
    ("config", "web1: password_env names $X, which is not set", "config error"),
    ("internal", "KeyError: 'x' (run with --debug for the traceback)", "internal error"),
])
def test_short_reason_from_kind_and_message(kind: str, message: str, reason: str) -> None:
    assert short_reason(kind, message) == reason
