"""A host's output cannot exhaust memory or the history database: each stream keeps --max-output bytes
(default 1 MiB), the rest is read and dropped (so the host never blocks) and counted. Real sshd, real CLI
processes; memory measured as the rmmctl process's own peak RSS (wait4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rmmctl
from fleet import Fleet

MiB = 1 << 20


def _rmmctl(args: list[str], env: dict[str, str]) -> tuple[int, str, str, int, float]:
    """Run the CLI in its own process: (exit code, stdout, stderr, peak RSS in bytes, wall seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "rmmctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env, "PYTHONPATH": str(Path(rmmctl.__file__).parents[1])})
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out.decode(), err.decode(), usage.ru_maxrss * 1024, time.monotonic() - started


def _db_bytes(env: dict[str, str]) -> int:
    db = Path(env["RMMCTL_DB"])
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


@pytest.fixture
def inv(fleet: Fleet, tmp_path: Path) -> Path:
    return fleet.write_inventory(tmp_path / "inv.yaml", hosts=[10])


def test_two_hundred_megabytes_of_output_keep_memory_and_history_small(inv: Path, env: dict[str, str]) -> None:
    base = _rmmctl(["run", "all", "-i", str(inv), "--json", "--", "true"], env)
    code, out, err, rss, wall = _rmmctl(["run", "all", "-i", str(inv), "--json", "--shell", "--",
                                         "yes AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA | head -c 200000000; echo e >&2"], env)
    assert code == 0, err
    [host] = json.loads(out)["hosts"]
    data = host["data"]
    assert len(data["stdout"]) == MiB and data["stdout_truncated_bytes"] == 200_000_000 - MiB
    assert (data["stderr"], data["stderr_truncated_bytes"]) == ("e\n", 0)
    print(f"\n200 MB through run: {wall:.1f} s, peak RSS {rss / MiB:.0f} MiB (a `true` run: {base[3] / MiB:.0f} MiB), "
          f"history {_db_bytes(env) / MiB:.1f} MiB")
    assert rss < base[3] + 64 * MiB
    assert _db_bytes(env) < 8 * MiB


def test_an_endless_flood_is_stopped_by_the_timeout_with_bounded_memory(inv: Path, env: dict[str, str]) -> None:
    base = _rmmctl(["run", "all", "-i", str(inv), "--json", "--", "true"], env)
    code, out, err, rss, wall = _rmmctl(["run", "all", "-i", str(inv), "--json", "--timeout", "4", "--",
                                         "cat", "/dev/zero"], env)
    [host] = json.loads(out)["hosts"]
    assert host["status"] == "timeout"
    assert wall < base[4] + 4 + 2
    print(f"\nflood for 4 s: peak RSS {rss / MiB:.0f} MiB (a `true` run: {base[3] / MiB:.0f} MiB)")
    assert rss < base[3] + 64 * MiB


def test_max_output_raises_the_cap(inv: Path, env: dict[str, str]) -> None:
    code, out, err, _, _ = _rmmctl(["run", "all", "-i", str(inv), "--json", "--max-output", "3000000", "--shell",
                                    "--", "head -c 2500000 /dev/zero | tr '\\0' x"], env)
    data = json.loads(out)["hosts"][0]["data"]
    assert (len(data["stdout"]), data["stdout_truncated_bytes"]) == (2_500_000, 0)


def test_a_flood_on_stderr_alone_neither_stalls_nor_grows_memory(inv: Path, env: dict[str, str]) -> None:
    """The channel's window is shared by both streams: 40 MB on stderr while stdout stays quiet must be
    read as it comes (the drain wakes every few packets, not only at EOF), so the command ends at once."""
    base = _rmmctl(["run", "all", "-i", str(inv), "--json", "--", "true"], env)
    code, out, err, rss, wall = _rmmctl(["run", "all", "-i", str(inv), "--json", "--timeout", "30", "--shell", "--",
                                         "head -c 40000000 /dev/zero >&2; echo done"], env)
    assert code == 0, err
    data = json.loads(out)["hosts"][0]["data"]
    assert data["stdout"] == "done\n" and data["stderr_truncated_bytes"] == 40_000_000 - MiB
    assert wall < base[4] + 15  # seconds, not the 30 s timeout
    assert rss < base[3] + 64 * MiB
