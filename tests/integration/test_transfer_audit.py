"""HostContext.put/get over SSH (the fleet) and the local transport: each transfer is one audit entry
("put"/"get", "put LOCAL -> REMOTE", code 0 or None when it failed) and stays within the host deadline."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet import Fleet
from localctx import local_context
from rmmctl.errors import CommandTimeout, TransportError
from rmmctl.executor import HostContext
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport


@pytest.fixture
def ssh_ctx(fleet: Fleet, ssh_options: TransportOptions) -> Iterator[HostContext]:
    host = fleet.inventory_host(1)
    transport = SSHTransport(host, ssh_options)
    yield HostContext(host, transport, None, ssh_options.redactor)
    transport.close()


@pytest.mark.parametrize("kind", ["ssh", "local"])
def test_put_and_get_are_audited_with_the_mode_set(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    ctx = request.getfixturevalue("ssh_ctx") if kind == "ssh" else local_context(30)
    local = tmp_path / "a.txt"
    local.write_bytes(b"hello\n" * 1000)
    remote = str(tmp_path / "remote.txt")
    ctx.put(local, remote, mode=0o600)
    assert Path(remote).read_bytes() == local.read_bytes() and Path(remote).stat().st_mode & 0o777 == 0o600
    back = tmp_path / "back.txt"
    ctx.get(remote, back)
    assert back.read_bytes() == local.read_bytes()
    with pytest.raises(TransportError):
        ctx.get(str(tmp_path / "missing"), tmp_path / "never")
    rows = [(a.action, a.detail, a.exit_code) for a in ctx.audit]
    assert rows == [("put", f"put {local} -> {remote}", 0), ("get", f"get {remote} -> {back}", 0),
                    ("get", f"get {tmp_path}/missing -> {tmp_path}/never", None)]
    assert all(a.host == ctx.host.name and a.duration_s >= 0 for a in ctx.audit)


def test_a_transfer_stops_at_the_host_deadline(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(256 << 20)  # sparse: cheap here, but 256 MiB to move over SFTP
    host = fleet.inventory_host(2)
    transport = SSHTransport(host, ssh_options, deadline=time.monotonic() + 3.0)
    ctx = HostContext(host, transport, None, ssh_options.redactor)
    try:
        transport.connect()
        started = time.monotonic()
        with pytest.raises(CommandTimeout):
            ctx.get(str(big), tmp_path / "copy.bin")
        assert time.monotonic() - started < 4.0
        assert ctx.audit[-1].action == "get" and ctx.audit[-1].exit_code is None
        with pytest.raises(CommandTimeout):  # the deadline has passed: not even started
            ctx.put(big, str(tmp_path / "never.bin"))
        assert not os.path.exists(tmp_path / "never.bin")
    finally:
        transport.close()


def test_local_put_respects_a_passed_deadline(tmp_path: Path) -> None:
    ctx = local_context(0.001)
    time.sleep(0.01)
    (tmp_path / "a").write_text("x")
    with pytest.raises(CommandTimeout):
        ctx.put(tmp_path / "a", str(tmp_path / "b"))
    assert [(a.action, a.exit_code) for a in ctx.audit] == [("put", None)] and not (tmp_path / "b").exists()
