"""The probe's systemd paths for real: a private mount namespace where /run/systemd/system exists,
/run/reboot-required is set, and tool shims in /usr/local/bin (first on the probe's PATH) stand in
for systemctl, timedatectl and journalctl. Nothing on this machine changes. Needs root and unshare."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from rmmctl.probes import linux
from rmmctl.probes.linux import bundle

NONCE = "5h1mmed0h0st9876"
SINCE = 1795300000
SHIMS = {
    "systemctl": """#!/bin/sh
case "$*" in
  *is-system-running*) echo degraded; exit 1 ;;
  *list-units*--failed*) printf '%s\\n' 'cups.service  loaded failed failed CUPS Scheduler' \\
      'snapd.service loaded failed failed Snap Daemon' ;;
  *) exit 1 ;;
esac
""",
    "timedatectl": """#!/bin/sh
[ "$1" = show ] || exit 1
printf '%s\\n' Timezone=Etc/UTC LocalRTC=no CanNTP=yes NTP=yes NTPSynchronized=no
""",
    "journalctl": """#!/bin/sh
printf '{"__REALTIME_TIMESTAMP":"1795312211077539","PRIORITY":"3","SYSLOG_IDENTIFIER":"shim","MESSAGE":"args: %s"}\\n' "$*"
""",
}
SETUP = """
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/system
: > /run/reboot-required
echo linux-image-5.15.0-105-generic > /run/reboot-required.pkgs
mount --bind "$1" /usr/local/bin
exec sh -s
"""


@pytest.fixture(scope="module")
def shimmed_facts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (a private mount namespace)")
    shims = tmp_path_factory.mktemp("shims")
    for name, text in SHIMS.items():
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    sections = ("time", "services", "logs", "reboot")
    reboot_flag_before = Path("/run/reboot-required").exists()
    script = bundle.build_script(sections, nonce=NONCE, since=SINCE)
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP, "setup", str(shims)],
        input=script.encode(), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    facts = linux.parse_output(proc.stdout.decode(), NONCE, sections, controller_time=time.time())
    assert facts.errors == {}
    assert Path("/run/reboot-required").exists() == reboot_flag_before  # the namespace kept it to itself
    return facts.to_jsonable()


def test_failed_units_through_systemctl(shimmed_facts: dict) -> None:
    services = shimmed_facts["services"]
    assert services["available"] is True and services["system_state"] == "degraded"
    assert [u["name"] for u in services["failed"]] == ["cups", "snapd"]
    assert [u["systemd"]["unit"] for u in services["failed"]] == ["cups.service", "snapd.service"]
    assert services["failed"][0]["description"] == "CUPS Scheduler"


def test_journal_gets_since_priority_and_limit(shimmed_facts: dict) -> None:
    logs = shimmed_facts["logs"]
    assert logs["source"] == "journal" and len(logs["entries"]) == 1
    args = logs["entries"][0]["message"]
    assert f"--since @{SINCE}" in args and "-p 3" in args and "-o json" in args and "-n 500" in args


def test_reboot_and_time_sync(shimmed_facts: dict) -> None:
    assert shimmed_facts["reboot"] == {
        "required": True,
        "packages": ["linux-image-5.15.0-105-generic"],
        "method": "reboot-required",
    }
    assert shimmed_facts["time"]["synchronized"] is False and shimmed_facts["time"]["ntp_enabled"] is True
