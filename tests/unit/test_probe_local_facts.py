"""The `local` prober: psutil in-process plus the sh probe through the LocalTransport gives the same facts
schema (and the same answers) as the probe, within the host's deadline and with the exec audited."""

from __future__ import annotations

import shutil
import subprocess
import time

import jsonschema
import pytest

from localctx import local_context
from rmmctl import probes
from rmmctl.errors import CommandTimeout
from rmmctl.facts import json_schema
from rmmctl.probes import linux
from rmmctl.probes.linux import bundle


@pytest.fixture(scope="module")
def local() -> dict:
    facts = probes.collect(local_context(), linux.SECTIONS, since=time.time() - 3600)
    assert facts.errors == {}
    return facts.to_jsonable()


@pytest.fixture(scope="module")
def probed() -> dict:
    nonce = bundle.new_nonce()
    script = bundle.build_script(linux.FAST_SECTIONS, nonce=nonce)
    out = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, timeout=60, check=True)
    facts = linux.parse_output(out.stdout.decode(), nonce, linux.FAST_SECTIONS, controller_time=time.time())
    assert facts.errors == {}
    return facts.to_jsonable()


def test_local_facts_match_the_schema_for_every_section(local: dict) -> None:
    assert set(local) == {*linux.SECTIONS, "errors"}
    jsonschema.validate(local, json_schema())
    assert local["time"]["skew_s"] == 0.0
    if shutil.which("apt-get"):  # updates and reboot ran through the real probe script (apt list)
        assert local["updates"]["manager"] == "apt" and local["reboot"]["method"] == "reboot-required"
    assert 0.0 <= local["cpu"]["percent"] <= 100.0
    cpu = [p["cpu_pct"] for p in local["processes"]["top_cpu"]]
    assert cpu == sorted(cpu, reverse=True) and local["processes"]["count"] > 1


def test_local_facts_agree_with_the_probe_on_this_machine(local: dict, probed: dict) -> None:
    for key in ("hostname", "fqdn", "kernel", "arch", "machine_id"):
        assert local["host"][key] == probed["host"][key], key
    assert local["os"] == probed["os"]
    assert local["memory"]["total_kb"] == probed["memory"]["total_kb"]
    assert local["memory"]["swap_total_kb"] == probed["memory"]["swap_total_kb"]
    assert local["cpu"]["count"] == probed["cpu"]["count"]
    assert abs(local["uptime"]["boot_time"] - probed["uptime"]["boot_time"]) <= 2
    assert [m["mount"] for m in local["filesystems"]["mounts"]] == [
        m["mount"] for m in probed["filesystems"]["mounts"]
    ]
    local_root = next(m for m in local["filesystems"]["mounts"] if m["mount"] == "/")
    probe_root = next(m for m in probed["filesystems"]["mounts"] if m["mount"] == "/")
    assert local_root["size_kb"] == probe_root["size_kb"] and local_root["fstype"] == probe_root["fstype"]
    assert local["services"] == probed["services"]


def test_local_facts_only_the_requested_sections() -> None:
    facts = probes.collect(local_context(), ["memory"])
    assert list(facts) == ["memory"] and facts.errors == {}


def test_local_facts_rejects_unknown_sections() -> None:
    with pytest.raises(ValueError, match="nosuch"):
        probes.collect(local_context(), ["nosuch"])


def test_local_printers_run_through_the_probe_script() -> None:
    facts = probes.collect(local_context(), ["printers"])
    assert facts.errors == {}
    assert "scheduler" in facts["printers"] or "unavailable" in facts["printers"]


def test_the_local_probe_runs_through_the_transport_and_is_audited() -> None:
    ctx = local_context()
    facts = probes.collect(ctx, ["time", "memory", "services"])
    assert facts.errors == {} and facts["time"]["skew_s"] == 0.0
    [entry] = ctx.audit  # the sh probe (time, services): one exec; memory came from psutil in-process
    assert (entry.action, entry.detail, entry.exit_code) == ("exec", "probe: time services", 0)


def test_psutil_sections_alone_run_no_command() -> None:
    ctx = local_context()
    probes.collect(ctx, ["host", "memory", "filesystems"])
    assert ctx.audit == []


def test_the_local_probe_keeps_the_host_deadline_and_is_audited() -> None:
    ctx = local_context(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        probes.collect(ctx, ["time", "updates", "services", "logs", "cpu"], since=0)  # seconds of work
    assert time.monotonic() - started < 2.0
    [entry] = ctx.audit
    assert entry.detail == "probe: time updates services logs" and entry.exit_code is None  # started, did not finish


def test_psutil_sections_keep_the_host_deadline() -> None:
    ctx = local_context(timeout=0.05)  # shorter than the 0.2 s CPU sample
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="deadline passed while reading local facts"):
        probes.collect(ctx, ["cpu", "processes"])
    assert time.monotonic() - started < 0.5 and ctx.audit == []


def test_close_never_kills_a_reaped_commands_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a command is reaped its PID (its session and group id) can be reused by any process: the
    local transport's close() must not kill by that number any more (a reused id once took down the
    shell that ran the test suite)."""
    import os
    import subprocess

    from rmmctl.transports import local

    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    killed: list[int] = []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: killed.append(pgid))
    local._kill_if_unreaped(proc)
    assert killed == []
    live = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        local._kill_if_unreaped(live)
        assert live.pid in killed  # an unreaped command is still stopped (its session, by id)
    finally:
        live.kill()
        live.wait()
