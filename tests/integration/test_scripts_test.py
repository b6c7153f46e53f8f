"""scripts/test leaves the machine as it found it: the policy-rc.d it writes for apt-get goes again.

Each case runs the real script in a private mount namespace whose /usr/sbin is an empty tmpfs, so
openssh-server & co look missing and /usr/sbin/policy-rc.d is written there, never on the machine.
`apt-get` and `python3` are shims on PATH that record what they saw; nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CASE = r"""
set -u
mount -t tmpfs -o size=1m tmpfs /usr/sbin
if [ -n "$PRESET" ]; then printf '%s\n' "$PRESET" > /usr/sbin/policy-rc.d; fi
rc=0; "$SCRIPT" -q tests/nothing >"$OUT/script.log" 2>&1 || rc=$?
echo "$rc" > "$OUT/rc"
if [ -e /usr/sbin/policy-rc.d ]; then cat /usr/sbin/policy-rc.d > "$OUT/after"; fi
"""

_APT = """#!/bin/sh
# fake apt-get: record whether policy-rc.d is in place while packages "install"
case "$1" in install) cat /usr/sbin/policy-rc.d > "$OUT/during" 2>/dev/null || echo missing > "$OUT/during"
  exit "${APT_RC:-0}";; esac
exit 0
"""

_PYTHON = """#!/bin/sh
echo "$*" >> "$OUT/python3"
exit 0
"""


def _run(tmp_path: Path, preset: str = "", apt_rc: int = 0) -> dict[str, str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace")
    shims, out = tmp_path / "shims", tmp_path / "out"
    shims.mkdir()
    out.mkdir()
    for name, text in (("apt-get", _APT), ("python3", _PYTHON)):
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    env = {
        "PATH": f"{shims}:/usr/local/bin:/usr/bin:/bin",  # /usr/sbin is the empty tmpfs inside
        "OUT": str(out),
        "PRESET": preset,
        "APT_RC": str(apt_rc),
        "SCRIPT": str(ROOT / "scripts" / "test"),
    }
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _CASE],
        cwd=ROOT, env=env, check=True, timeout=60,
    )
    return {p.name: p.read_text().strip() for p in out.iterdir()}


def test_policy_rc_d_is_in_place_during_install_and_gone_afterwards(tmp_path: Path) -> None:
    seen = _run(tmp_path)
    assert seen["rc"] == "0", seen.get("script.log")
    assert seen["during"] == "#!/bin/sh\nexit 101"  # daemons kept from starting while apt-get runs
    assert "after" not in seen  # ... and the machine is as it was
    assert "-m pytest -n 2 --dist loadfile -q tests/nothing" in seen["python3"]  # the suite runs, on both cores


def test_policy_rc_d_is_removed_when_apt_get_fails(tmp_path: Path) -> None:
    seen = _run(tmp_path, apt_rc=100)
    assert seen["rc"] == "100"
    assert seen["during"].startswith("#!/bin/sh")
    assert "after" not in seen
    assert "python3" not in seen


def test_an_existing_policy_rc_d_is_left_alone(tmp_path: Path) -> None:
    seen = _run(tmp_path, preset="#!/bin/sh\n# the admin's own\nexit 0")
    assert seen["rc"] == "0", seen.get("script.log")
    assert seen["after"] == "#!/bin/sh\n# the admin's own\nexit 0"
