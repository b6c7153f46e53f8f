"""The probe on a real minimal host: a busybox-only chroot (no systemd, no apt, no GNU tools) with its
own hostname, a really full tmpfs, a read-only mount and a syslog file, inside `unshare --mount --uts`
so nothing on this machine changes. Needs root, unshare and busybox."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from rmmctl.probes import linux
from rmmctl.probes.linux import bundle

NONCE = "b0x0f1ce5eed1234"
OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'
SETUP = r"""
set -e
R=$1
mount --bind "$R" "$R"
mount -t tmpfs -o size=1024k datafs "$R/srv/data"
dd if=/dev/zero of="$R/srv/data/fill" bs=1k count=2048 2>/dev/null || true
mount -t tmpfs -o size=512k,ro rofs "$R/srv/ro"
mount -t proc proc "$R/proc"
mount --bind /dev/null "$R/dev/null"
hostname minimal01
exec chroot "$R" /bin/sh -s
"""


def _need(condition: bool, why: str) -> None:
    if not condition:
        pytest.skip(why)


def _copy_with_libs(binary: Path, root: Path) -> None:
    """Copy a dynamically linked binary and the libraries `ldd` names into the same paths under root."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, root / "bin" / "busybox")
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    for lib in re.findall(r"(/\S+\.so[.\d]*)", ldd):
        target = root / lib.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, target)


def _build_root(root: Path, busybox: Path) -> None:
    _copy_with_libs(busybox, root)
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    for sub in ("etc", "proc", "dev", "tmp", "var/log", "srv/data", "srv/ro"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "dev/null").touch()
    (root / "etc/os-release").write_text(OS_RELEASE)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    (root / "var/log/messages").write_text(
        f"{stamp} minimal01 daemon.err cupsd: printer office-1 stopped: filter rastertoacme failed\n"
        f"{stamp} minimal01 user.info app: routine message\n"
    )


@pytest.fixture(scope="module")
def minimal_host_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    busybox = shutil.which("busybox")
    _need(os.geteuid() == 0, "needs root (unshare --mount, chroot)")
    _need(busybox is not None and shutil.which("unshare") is not None, "needs busybox and unshare")
    root = tmp_path_factory.mktemp("minimal-host")
    _build_root(root, Path(busybox))  # type: ignore[arg-type]
    script = bundle.build_script(linux.SECTIONS, nonce=NONCE, since=time.time() - 3600)
    proc = subprocess.run(
        ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", SETUP, "setup", str(root)],
        input=script.encode(), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8", "replace")


def test_minimal_host_every_section_parses(minimal_host_output: str) -> None:
    facts = linux.parse_output(minimal_host_output, NONCE, linux.SECTIONS, controller_time=time.time())
    assert facts.errors == {}
    assert facts["host"]["hostname"] == "minimal01" and facts["os"]["id"] == "alpine"
    assert abs(facts["time"]["skew_s"]) < 5  # busybox date has no %N: whole seconds
    assert facts["updates"] == {"unavailable": "no supported package manager (apt, dnf, yum)"}
    assert "unavailable" in facts["reboot"]
    assert facts["services"]["available"] is False and facts["services"]["failed"] == []
    assert facts["processes"]["count"] >= 1 and facts["cpu"]["count"] >= 1


def test_minimal_host_disks_and_logs(minimal_host_output: str) -> None:
    facts = linux.parse_output(minimal_host_output, NONCE, linux.SECTIONS, controller_time=time.time())
    mounts = {m["mount"]: m for m in facts["filesystems"]["mounts"]}
    assert mounts["/srv/data"]["used_pct"] == 100.0 and mounts["/srv/data"]["avail_kb"] == 0
    assert mounts["/srv/ro"]["read_only"] is True and mounts["/"]["read_only"] is False
    logs = facts["logs"]
    assert logs["source"] == "syslog" and logs["file"] == "/var/log/messages"
    assert [(e["level"], e["source"]) for e in logs["entries"]] == [("err", "cupsd")]
