"""The logs section starts no more programs than before the "never say nothing" work (issue 7, B11)
while it finds entries, and only one more (the census) when it finds none: counted with strace -f
(successful execve) in a private mount namespace with a journalctl shim. Needs root, unshare, strace."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from rmmctl.probes.linux import bundle

NOW = time.time()
STAMP = time.strftime("%b %e %H:%M:%S", time.localtime(NOW - 60))
ENTRY = ('{"__REALTIME_TIMESTAMP":"%d","PRIORITY":"3","SYSLOG_IDENTIFIER":"x","MESSAGE":"segfault at 0 boom"}'
         % int((NOW - 60) * 1e6))
SETUP = r"""
set -e
mount -t tmpfs tmpfs /run; mkdir -p /run/sshd
[ "$SYSTEMD" = 1 ] && mkdir -p /run/systemd/system
mount -t tmpfs tmpfs /var/log; [ -n "$SYSLOG" ] && printf '%s' "$SYSLOG" > /var/log/syslog
mount --bind "$BIN" /usr/local/bin
exec strace -f -qq -z -e trace=execve -o "$OUT" sh -s
"""
# scenario -> (systemd, journalctl shim, /var/log/syslog, probe params, programs started; main had)
CASES = {
    "journal-entries": (True, f"echo '{ENTRY}'", None, {}, ["id", "timeout", "journalctl"]),  # 4
    "journal-match": (True, f"echo '{ENTRY}'", None, {"LOG_MATCH": ["segfault at"]},
                      ["grep", "id", "journalctl", "tail", "timeout"]),  # 6
    "journal-below": (True, "case \"$*\" in *'-o cat'*) echo 6;; esac", None, {},
                      ["id", "journalctl", "journalctl", "timeout"]),  # 4, and said nothing
    "syslog-entries": (False, None, f"{STAMP} h kernel: error one\n", {}, ["date", "grep", "id", "tail", "tail"]),  # 7
    "syslog-below": (False, None, f"{STAMP} h cron[1]: CMD x\n", {},
                     ["date", "grep", "id", "tail", "tail", "tail"]),  # 7, and said nothing
}


@pytest.mark.parametrize("case", CASES)
def test_programs_started_by_the_logs_section(case: str, tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("strace"):
        if os.environ.get("CI"):  # scripts/test installs strace: in CI this test runs, never skips
            pytest.fail("needs root, unshare and strace (scripts/test installs strace)", pytrace=False)
        pytest.skip("needs root, unshare and strace")
    systemd, shim, syslog, params, expected = CASES[case]
    (tmp_path / "bin").mkdir()
    if shim:
        (tmp_path / "bin" / "journalctl").write_text(f"#!/bin/sh\n{shim}\n")
        (tmp_path / "bin" / "journalctl").chmod(0o755)
    script = bundle.build_script(["logs"], nonce="abcdef123456", since=NOW - 3600, params=params)
    env = {**os.environ, "SYSTEMD": "1" if systemd else "0", "SYSLOG": syslog or "", "BIN": str(tmp_path / "bin"),
           "OUT": str(tmp_path / "trace")}
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP],
                          input=script.encode(), env=env, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    calls = [ln.split('execve("')[1].split('"')[0] for ln in (tmp_path / "trace").read_text().splitlines()
             if 'execve("' in ln]
    programs = sorted(Path(c).name for c in calls[1:])  # the first is sh itself
    assert programs == sorted(expected)
