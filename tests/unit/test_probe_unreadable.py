"""C10: probe output with no section framing at all (garbage, a flood of one byte, nothing) makes the host
an `error` with a one-line reason, never a `warn` with every section "no output"."""

from __future__ import annotations

import os

import pytest

from rmmctl import health
from rmmctl.executor import Executor
from rmmctl.inventory.model import Host
from rmmctl.models import CommandResult, Status
from rmmctl.probes import ProbeError, linux
from rmmctl.probes.linux import bundle
from rmmctl.transports import TransportOptions
from rmmctl.transports.fake import FakeHost, FakeResponse, fake_opener

NONCE = "c10c10c10c10c10c"


def result(stdout: str, exit_code: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult(bundle.COMMAND, exit_code, stdout, stderr, 0.1)


GARBAGE = os.urandom(300_000).decode("latin-1")  # binary noise, newlines and all


CASES = {  # name: (stdout factory, exit code, stderr, the one-line reason)
    "binary-garbage": (lambda: GARBAGE, 0, "", "probe output unreadable: no section markers in 293 KB of output (exit 0)"),
    "200MB-of-A": (lambda: "A" * (200 << 20), 0, "",
                   "probe output unreadable: no section markers in 200 MB of output (exit 0)"),
    "no-sh": (lambda: "", 127, "sh: 1: sh: not found\n", "probe produced no output (exit 127: sh: 1: sh: not found)"),
    "killed-after-start": (lambda: f"@@{NONCE} START\n", 137, "", "probe stopped before its first section (exit 137)"),
    "another-runs-nonce": (lambda: "@@0123456789abcdef START\n@@0123456789abcdef BEGIN os\nID=x\n", 0, "",
                           "probe output unreadable: no section markers in 58 bytes of output (exit 0)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_without_any_section_is_a_probe_error(case: str) -> None:
    make, code, err, reason = CASES[case]
    with pytest.raises(ProbeError) as exc:
        linux.parse_result(result(make(), code, err), NONCE, ["os", "memory"], controller_time=0.0)
    assert str(exc.value) == reason and "\n" not in reason


def test_one_framed_section_is_enough_to_judge_the_rest() -> None:
    out = f"junk\n@@{NONCE} START\n@@{NONCE} BEGIN os\nID=debian\n\n@@{NONCE} END os 0 1\n"
    facts = linux.parse_result(result(out), NONCE, ["os", "memory"], controller_time=0.0)
    assert facts["os"]["id"] == "debian"
    assert facts.errors == {"memory": "memory: no output (the probe stopped before this section)"}


def test_status_of_a_host_printing_garbage_is_error_not_warn() -> None:
    host = Host("noisy", "192.0.2.7")
    scripts = {"noisy": FakeHost(responses=[(r"^sh -c ", FakeResponse(stdout=GARBAGE))])}
    [res] = Executor(TransportOptions(), opener=fake_opener(scripts)).run([host], health.status_job)
    assert res.status is Status.ERROR and res.error is not None
    assert res.error.message == "probe output unreadable: no section markers in 293 KB of output (exit 0)"
    assert [a.detail for a in res.audit] == ["probe: " + " ".join(health.STATUS_SECTIONS)]
