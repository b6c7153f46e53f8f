"""The prober layer for real: the local machine through its transport (deadline, audit), the Linux prober on
real sshd hosts, and hosts whose `sh` prints garbage (C10) ending as `error` with one line.

probe-01  a healthy host (the Linux prober's behaviour through rmmctl.probes.collect)
probe-02  `sh` on PATH prints 1 MiB of binary noise (a broken login environment)
probe-03  `sh` on PATH prints 20 MiB of 'A' with no newline
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet
from rmmctl import probes
from rmmctl.executor import HostContext
from rmmctl.transports import TransportOptions, open_transport

NOISE_SH = "#!/bin/sh\ncat >/dev/null\nhead -c 1048576 /dev/urandom\n"
FLOOD_SH = "#!/bin/sh\ncat >/dev/null\nhead -c 20971520 /dev/zero | tr '\\0' A\n"
APT_NONE = "#!/bin/sh\necho 'Listing...'\n"


@pytest.fixture(scope="module")
def probe_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    require_fleet()
    work = tmp_path_factory.mktemp("probers")
    with Fleet(work / "fleet", prefix="probe") as fleet:
        fleet.start(3, {"probe-01": FixtureSpec(bin={"apt": APT_NONE}),
                        "probe-02": FixtureSpec(bin={"sh": NOISE_SH}),
                        "probe-03": FixtureSpec(bin={"sh": FLOOD_SH})})
        yield fleet, fleet.write_inventory(work / "inventory.yaml")


def test_status_on_the_local_default_keeps_the_timeout_and_is_audited(env: dict[str, str]) -> None:
    started = time.monotonic()
    result = cli("status", "--timeout", "0.1", "-o", "json")  # no -i: the embedded default, this machine
    elapsed = time.monotonic() - started
    assert result.exit_code == 6, result.stdout + result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    assert (host["name"], host["status"], host["error"]["kind"]) == ("localhost", "timeout", "timeout")
    assert elapsed < 3.0  # the probe was killed at the deadline, not left to finish (apt list, 1 s and more)
    [run] = json.loads(cli("history", "runs", "-o", "json").stdout)["runs"]
    shown = json.loads(cli("history", "show", str(run["id"]), "-o", "json").stdout)["run"]
    assert [(h["host"], h["status"]) for h in shown["hosts"]] == [("localhost", "timeout")]
    audit = json.loads(cli("history", "audit", "-o", "json").stdout)["audit"]
    assert [(a["run_id"], a["host"], a["action"], a["detail"], a["exit_code"]) for a in audit] == [
        (run["id"], "localhost", "exec", "probe: time services reboot updates", None)]  # started, killed at the deadline


def test_the_linux_prober_through_collect_on_a_real_host(probe_fleet: tuple[Fleet, Path], tmp_path: Path) -> None:
    fleet, _ = probe_fleet
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "ssh_config").write_text("")
    ssh_options = TransportOptions(connect_timeout=5.0, command_timeout=20.0, known_hosts=(fleet.known_hosts,),
                                   user_known_hosts=tmp_path / "known_hosts", ssh_config=tmp_path / "ssh_config")
    host = fleet.inventory_host(1)
    assert probes.platform_of(host) == "linux"
    transport = open_transport(host, ssh_options)
    transport.connect()
    try:
        ctx = HostContext(host, transport, None, ssh_options.redactor)
        facts = probes.collect(ctx, ["os", "host", "uptime", "services", "cpu"])
    finally:
        transport.close()
    assert facts.errors == {}
    assert facts["os"]["family"] == "linux" and facts["host"]["hostname"] == "probe-01"
    assert isinstance(facts["uptime"]["load1"], float) and isinstance(facts["cpu"]["iowait"], float)
    assert [a.detail for a in ctx.audit] == ["probe: os host uptime services cpu"]  # one exec, five sections


def test_hosts_printing_garbage_are_errors_with_one_line(probe_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    _, inv = probe_fleet
    result = cli("status", "-i", str(inv), "-o", "json")
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    assert hosts["probe-01"]["status"] in ("ok", "warn", "crit")
    for name, size in (("probe-02", r"\d+ KB"), ("probe-03", "20 MB")):  # noise: bad UTF-8 decodes shorter
        host = hosts[name]
        assert host["status"] == "error", host
        assert re.fullmatch(f"probe output unreadable: no section markers in {size} of output \\(exit 0\\)",
                            host["error"]["message"]), host["error"]
    table = cli("status", "probe-02", "-i", str(inv))
    assert "probe output unreadable" in table.stdout and "no output" not in table.stdout
