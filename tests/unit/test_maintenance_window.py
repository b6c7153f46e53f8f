"""Maintenance windows (rmmctl.inventory.window) with a fixed clock: parsing, days, midnight, time zones,
inventory validation (FILE:LINE), and `play` skipping a host outside its window without connecting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory.conn import BadValue
from rmmctl.inventory.load import parse_inventory
from rmmctl.inventory.window import parse_window, parse_windows, window_state

UTC = timezone.utc
# 2026-12-01 is a Tuesday
TUE_1402_UTC = datetime(2026, 12, 1, 14, 2, tzinfo=UTC)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    """A naive wall-clock time on the week of 2026-11-30 (Monday = 0)."""
    return datetime(2026, 11, 30, hh, mm) + timedelta(days=day)


@pytest.mark.parametrize("text, inside, outside", [
    ("Sun 02:00-04:00", [at(6, 2), at(6, 3, 59)], [at(6, 4), at(6, 1, 59), at(0, 2, 30), at(5, 3)]),
    ("Mon-Fri 22:00-23:30", [at(0, 22), at(4, 23, 29)], [at(5, 22, 30), at(4, 23, 30), at(2, 21, 59)]),
    ("daily 01:00-05:00", [at(d, 1) for d in range(7)], [at(3, 5), at(3, 0, 59)]),
    ("01:00-05:00", [at(2, 4, 59)], [at(2, 5)]),  # no days: every day
    ("Sun 23:00-01:00", [at(6, 23, 30), at(7, 0, 30)], [at(6, 22, 59), at(7, 1), at(0 + 7, 23, 30), at(5, 0, 30)]),
    ("Fri-Mon 00:00-24:00", [at(4, 0), at(5, 12), at(6, 23, 59), at(7, 8)], [at(1, 12), at(3, 23, 59)]),
    ("sat,SUNDAY 10:00-11:00", [at(5, 10, 30), at(6, 10)], [at(4, 10, 30)]),
    ("daily 23:00-00:00", [at(1, 23, 59)], [at(2, 0)]),
])
def test_windows_contain_what_they_say(text: str, inside: list[datetime], outside: list[datetime]) -> None:
    window = parse_window(text)
    assert [t for t in inside if not window.contains(t)] == []
    assert [t for t in outside if window.contains(t)] == []


@pytest.mark.parametrize("value, word", [
    ("Sun 02:00", "expected a window"), ("Sun 25:00-26:00", "bad time"), ("Sun 02:60-03:00", "bad time"),
    ("Funday 02:00-04:00", "unknown day"), ("Sun 02:00-02:00", "same time"), (42, "got 42"),
    ([], "expected a window"), (["Sun 02:00-04:00", "nope"], "item 1"), ("Sun 24:00-01:00", "bad time"),
])
def test_bad_windows_say_what_is_expected(value: object, word: str) -> None:
    with pytest.raises(BadValue) as info:
        parse_windows(value)
    assert word in str(info.value)


def test_state_outside_names_the_window_and_the_host_time_in_its_zone() -> None:
    state = window_state({"maintenance_window": "Sun 02:00-04:00", "timezone": "Europe/Berlin"}, TUE_1402_UTC)
    assert not state.open
    assert state.reason == "outside maintenance window Sun 02:00-04:00 (host time Tue 15:02 Europe/Berlin)"
    assert state.to_dict() == {"open": False, "windows": ["Sun 02:00-04:00"], "host_time": "Tue 15:02 Europe/Berlin"}


def test_the_zone_decides_the_day() -> None:
    # Tue 14:02 UTC is Wed 03:02 in Auckland (UTC+13 in December)
    vars_ = {"maintenance_window": ["Sun 02:00-04:00", "Wed 03:00-04:00"], "timezone": "Pacific/Auckland"}
    assert window_state(vars_, TUE_1402_UTC).open
    vars_["timezone"] = "UTC"
    state = window_state(vars_, TUE_1402_UTC)
    assert not state.open and "windows Sun 02:00-04:00, Wed 03:00-04:00" in (state.reason or "")


def test_no_window_is_always_open_and_no_zone_is_local_time() -> None:
    assert window_state({}, TUE_1402_UTC).open
    local = TUE_1402_UTC.astimezone()
    state = window_state({"maintenance_window": f"daily {local:%H}:00-{(local.hour + 1) % 24:02d}:00"}, TUE_1402_UTC)
    assert state.open and "this machine's time zone" in state.host_time


def inventory(tmp_path: Path, vars_text: str) -> str:
    text = f"hosts:\n  web01:\n    address: 127.0.0.1\n    vars:\n{vars_text}"
    with pytest.raises(ConfigError) as info:
        parse_inventory(text, tmp_path / "inv.yaml")
    return str(info.value)


def test_inventory_refuses_a_bad_window_or_zone_with_file_and_line(tmp_path: Path) -> None:
    msg = inventory(tmp_path, "      disk_warn_pct: 80\n      maintenance_window: Sun 2-4\n")
    assert msg.startswith(f"{tmp_path / 'inv.yaml'}:6: hosts.web01.vars.maintenance_window: got 'Sun 2-4'")
    msg = inventory(tmp_path, "      timezone: Mars/Olympus\n")
    assert ":5: hosts.web01.vars.timezone: unknown time zone 'Mars/Olympus'" in msg


def test_ansible_inventory_vars_are_checked_too(tmp_path: Path) -> None:
    text = "all:\n  hosts:\n    web01:\n      ansible_host: 127.0.0.1\n      maintenance_window: [Sun 02:00-04:00, 9am]\n"
    with pytest.raises(ConfigError, match=r":5: .*maintenance_window: item 1: got '9am'"):
        parse_inventory(text, tmp_path / "hosts.yaml")
    good = parse_inventory(text.replace("9am", "Mon 01:00-02:00"), tmp_path / "hosts.yaml")
    assert good.hosts["web01"].vars["maintenance_window"] == ["Sun 02:00-04:00", "Mon 01:00-02:00"]


def test_example_inventory_uses_the_one_name() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "inventories" / "example.yaml").read_text()
    assert "maintenance_window:" in text and "reboot_window" not in text
    inv = parse_inventory(text, root / "inventories" / "example.yaml")
    assert inv.hosts["fs01.acme.example"].vars["maintenance_window"] == "Sun 02:00-04:00"


def test_play_skips_a_host_outside_its_window_without_connecting(tmp_path: Path) -> None:
    from rmmctl import api
    from rmmctl.models import Status
    from rmmctl.playbooks import load_playbook
    from rmmctl.transports.fake import FakeHost, FakeResponse, FakeTransport

    inv = parse_inventory(
        "hosts:\n"
        "  closed: {address: 127.0.0.2, vars: {maintenance_window: Sun 02:00-04:00, timezone: Europe/Berlin}}\n"
        "  open: {address: 127.0.0.3, vars: {maintenance_window: [Tue 15:00-16:00], timezone: Europe/Berlin}}\n"
        "  none: {address: 127.0.0.4}\n", tmp_path / "inv.yaml")
    book = tmp_path / "play.yaml"
    book.write_text("name: w\nhosts: all\ntasks:\n  - name: say\n    command: echo {{ maintenance_window_open }}\n")
    opened: list[str] = []

    def opener(host, options, deadline=None):  # noqa: ANN001, ANN202
        opened.append(host.name)
        return FakeTransport(host, FakeHost(responses=[(".", FakeResponse("said\n"))]), deadline=deadline)

    for ignore in (False, True):
        opened.clear()
        report = api.play(inv, "all", api.RunSettings(), playbook=load_playbook(book), opener=opener,
                          ignore_window=ignore, now=lambda: TUE_1402_UTC)
        hosts = {h.name: h for h in report.hosts}
        if not ignore:
            assert opened == ["open", "none"] or sorted(opened) == ["none", "open"]
            assert hosts["closed"].status is Status.SKIPPED
            assert hosts["closed"].data["skip_reason"] == (
                "outside maintenance window Sun 02:00-04:00 (host time Tue 15:02 Europe/Berlin)")
            assert hosts["open"].data["window"]["open"] is True
            assert "window" not in hosts["none"].data
        else:
            assert sorted(opened) == ["closed", "none", "open"]
            assert hosts["closed"].status is not Status.SKIPPED
            assert hosts["closed"].data["window"]["open"] is False  # maintenance_window_open false in templates
