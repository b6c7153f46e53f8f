"""rmmctl.doctor's pure parts: the fix said for each failure, the resolve row, the skipped rows."""

from __future__ import annotations

import socket

import pytest

from rmmctl import doctor
from rmmctl.errors import CommandTimeout, ConnectError, HostKeyError
from rmmctl.inventory.model import Host
from rmmctl.transports.ssh.config import Hop

HOST = Host(name="web01", address="192.0.2.10", port=2222, user="rmm")
HOP = Hop(label="web01", name="web01", address="192.0.2.10", port=2222, user="rmm")
JUMP = Hop(label="web01: jump host bastion", name="bastion", address="192.0.2.1", port=22, user="rmm")


@pytest.mark.parametrize(("step", "exc", "says"), [
    ("tcp", ConnectError("web01: connection refused by 192.0.2.10:2222; ..."), "start sshd"),
    ("tcp", ConnectError("web01: no answer from 192.0.2.10:2222 within 5.0 s; ..."), "firewall"),
    ("tcp", ConnectError("web01: cannot connect to 192.0.2.10:2222: No route to host"), "no route"),
    ("tcp", ConnectError("web01: the jump host could not open a tunnel to 192.0.2.10:2222 (...)"), "jump host"),
    ("banner", CommandTimeout("web01: no SSH answer within 5.0 s"), "MaxStartups"),
    ("host key", HostKeyError("web01: unknown host key (ssh-ed25519 SHA256:x)"), "`rmmctl hostkeys scan web01`"),
    ("host key", HostKeyError("web01: HOST KEY CHANGED: ..."), "`rmmctl hostkeys forget web01`"),
    ("auth", ConnectError("web01: authentication failed for user rmm (tried: key k)"), "~rmm/.ssh/authorized_keys"),
])
def test_each_failure_gets_its_fix(step: str, exc: Exception, says: str) -> None:
    assert says in doctor._fix(step, exc, HOP, HOST)


def test_a_name_that_does_not_resolve_fails_the_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(doctor.socket, "getaddrinfo", fail)
    steps = doctor.Steps()
    assert doctor._resolve(steps, HOST, [HOP]) is False
    assert steps.failed is not None and steps.failed["step"] == "resolve"
    assert "cannot resolve '192.0.2.10'" in steps.failed["detail"] and "DNS" in steps.failed["fix"]


def test_the_resolve_row_names_the_jump_hops() -> None:
    steps = doctor.Steps()
    assert doctor._resolve(steps, HOST, [JUMP, HOP])
    [row] = steps.rows
    assert row["detail"].startswith("bastion (rmm@192.0.2.1:22) -> web01 (rmm@192.0.2.10:2222)")
    assert doctor._step_name(JUMP, "tcp", [JUMP, HOP]) == "tcp (jump bastion)"
    assert doctor._step_name(HOP, "tcp", [JUMP, HOP]) == "tcp"


def test_become_is_wanted_from_the_host_vars() -> None:
    assert not doctor.wants_become(HOST)
    assert doctor.wants_become(Host(name="a", address="192.0.2.2", vars={"become_password_env": "X"}))
    assert doctor.wants_become(Host(name="a", address="192.0.2.2", vars={"become": True}))
