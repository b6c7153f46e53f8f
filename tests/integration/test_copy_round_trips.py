"""copy costs one exec (one round trip) per task in a real run: the host reads its state and writes only
what differs in that one exec (content, mode, owner/group); --diff and --check read first (the old
content is needed), then write. Real sshd fleet; the execs are counted in the audit trail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet import Fleet
from rmmctl.executor import HostContext
from rmmctl.playbooks.modules import ModuleCall, lookup, normalize_args
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport


@pytest.fixture
def ctx(fleet: Fleet, ssh_options: TransportOptions) -> Iterator[HostContext]:
    host = fleet.inventory_host(1)
    transport = SSHTransport(host, ssh_options)
    yield HostContext(host, transport, None, ssh_options.redactor)
    transport.close()


def copy(ctx: HostContext, *, check: bool = False, diff: bool = False, **args: object) -> tuple[str, str, int]:
    spec = lookup("posix", "copy")
    assert spec is not None
    before = len(ctx.audit)
    result = spec.run(ModuleCall(ctx, normalize_args(spec, dict(args), templated=True), check=check, diff=diff))
    return result.status, result.msg, len(ctx.audit) - before


def test_each_real_copy_is_one_exec_and_changes_only_what_differs(ctx: HostContext, tmp_path: Path) -> None:
    dest = tmp_path / "banner.txt"
    status, msg, execs = copy(ctx, content="hello\n", dest=str(dest), mode="0640")
    assert (status, execs) == ("changed", 1) and msg == f"changed {dest}: new file, 6 bytes"
    assert dest.read_text() == "hello\n" and dest.stat().st_mode & 0o777 == 0o640
    mtime = dest.stat().st_mtime_ns
    assert copy(ctx, content="hello\n", dest=str(dest), mode="0640")[::2] == ("ok", 1)
    assert dest.stat().st_mtime_ns == mtime  # the same content is not written again
    status, msg, execs = copy(ctx, content="hello\n", dest=str(dest), mode="0600")
    assert (status, msg, execs) == ("changed", f"changed {dest}: mode 0640 -> 0600", 1)
    assert dest.stat().st_mode & 0o777 == 0o600 and dest.stat().st_mtime_ns == mtime
    status, _, execs = copy(ctx, content="hello again\n", dest=str(dest), owner="nobody")
    assert (status, execs) == ("changed", 1) and dest.read_text() == "hello again\n"
    assert dest.stat().st_uid == int(os.popen("id -u nobody").read()) and dest.stat().st_mode & 0o777 == 0o600
    assert copy(ctx, content="hello again\n", dest=str(dest), owner="nobody")[::2] == ("ok", 1)
    (tmp_path / "dir").mkdir()
    status, msg, execs = copy(ctx, content="x", dest=str(tmp_path / "dir"))
    assert (status, execs) == ("failed", 1) and "not a regular file" in msg
    status, msg, _ = copy(ctx, content="x", dest=str(tmp_path / "missing" / "f"))
    assert status == "failed" and msg.startswith(f"cannot write {tmp_path}/missing/f")


def test_diff_and_check_read_first(ctx: HostContext, tmp_path: Path) -> None:
    dest = tmp_path / "conf"
    dest.write_text("old\n")
    status, _, execs = copy(ctx, content="new\n", dest=str(dest), check=True)
    assert (status, execs) == ("changed", 1) and dest.read_text() == "old\n"
    status, _, execs = copy(ctx, content="new\n", dest=str(dest), diff=True)
    assert (status, execs) == ("changed", 2) and dest.read_text() == "new\n"
