"""The Windows `win_reboot` module (Ansible's argument names).

Reads the boot time (Win32_OperatingSystem.LastBootUpTime, ISO UTC), runs `shutdown.exe /r /t DELAY /c MSG`,
then reconnects (HostContext.reconnect: the WinRM shell deleted and a new one opened, audited) until the
host answers with a NEW boot time and `test_command` (PowerShell) succeeds, all within `reboot_timeout`.
`reboot_and_wait` is also what win_updates uses.
"""

from __future__ import annotations

import time
from typing import Any

from rmmctl.errors import AuthError, CommandTimeout, ConnectError
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.win_common import WinFailed, module_script, run_script

DEFAULT_MSG = "Reboot initiated by rmmctl"
COMMAND_S = 30.0

module_script("win_reboot", r"""
  if ($Params.op -eq 'boot') {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem -OperationTimeoutSec 30
    return [pscustomobject]@{ boot = Iso $os.LastBootUpTime }
  }
  if ($Params.op -eq 'reboot') {
    $ErrorActionPreference = 'Continue'
    $out = @(& shutdown.exe /r /t ([int]$Params.delay) /c ([string]$Params.msg) 2>&1 | ForEach-Object { "$_" })
    $ErrorActionPreference = 'Stop'
    if ($LASTEXITCODE -ne 0) { throw "shutdown /r: exit $LASTEXITCODE $(($out -join ' ').Trim())" }
    return [pscustomobject]@{ started = $true }
  }
  $global:LASTEXITCODE = 0
  $o = @(& ([ScriptBlock]::Create([string]$Params.test)) | ForEach-Object { "$_" })
  [pscustomobject]@{ rc = [int]$LASTEXITCODE; out = ($o -join ' ') }
""")


def _left(end: float) -> float:
    return max(0.5, min(COMMAND_S, end - time.monotonic()))


def boot_time(call: ModuleCall, end: float | None = None) -> str:
    got = run_script(call, "win_reboot", {"op": "boot"}, audit="boot time",
                     timeout=_left(end) if end is not None else None)
    boot = (got or {}).get("boot")
    if not boot:
        raise WinFailed("the host gave no boot time")
    return str(boot)


def _pause(call: ModuleCall, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not call.ctx.stopping and time.monotonic() < end:
        time.sleep(min(0.25, max(0.0, end - time.monotonic())))


def reboot_and_wait(call: ModuleCall, *, timeout: int, msg: str, delay: int = 2, post_delay: int = 0,
                    test: str = "whoami") -> TaskResult:
    """Reboot now and wait for a new boot time and a passing `test` within `timeout` seconds."""
    started = time.monotonic()
    end = started + timeout
    if call.ctx.deadline is not None:
        end = min(end, call.ctx.deadline)
    data: dict[str, Any] = {"rebooted": False, "elapsed": 0}
    try:
        before = boot_time(call, end)
    except WinFailed as exc:
        return TaskResult("failed", f"cannot read the boot time before rebooting: {exc}", data)
    data["boot_time_before"] = before
    try:
        run_script(call, "win_reboot", {"op": "reboot", "delay": delay, "msg": msg}, audit=f"shutdown /r /t {delay}",
                   timeout=_left(end))
    except WinFailed as exc:
        return TaskResult("failed", f"reboot command failed: {exc}", data)
    except (ConnectError, CommandTimeout):
        pass  # the host went down under the command: that is the reboot
    _pause(call, min(float(delay + post_delay), max(0.0, end - time.monotonic())))
    tries, last = 0, "no answer yet"
    while True:
        if call.ctx.stopping:
            return TaskResult("failed", "interrupted while waiting for the host to come back", data)
        try:
            call.ctx.reconnect()
            now = boot_time(call, end)
            if now == before:
                raise WinFailed(f"the host answers with the old boot time {before} (not rebooted yet)")
            got = run_script(call, "win_reboot", {"op": "test", "test": test}, audit="test_command", timeout=_left(end))
            if int(got.get("rc") or 0) != 0:
                raise WinFailed(f"test_command: rc={got.get('rc')}: {str(got.get('out'))[:100]}")
            elapsed = time.monotonic() - started
            return TaskResult("changed", f"rebooted in {elapsed:.1f} s (boot time {before} -> {now})",
                              {**data, "rebooted": True, "elapsed": int(elapsed), "boot_time_after": now,
                               "attempts": tries + 1})
        except (WinFailed, ConnectError, AuthError, CommandTimeout) as exc:
            last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        tries += 1
        pause = min(5.0, 0.25 * 2 ** min(tries, 5))
        if time.monotonic() + pause >= end:
            return TaskResult("failed", f"the host did not come back with a new boot time within {timeout} s "
                              f"(reboot_timeout); last: {last}"[:300],
                              {**data, "elapsed": int(time.monotonic() - started), "attempts": tries})
        _pause(call, pause)


def _win_reboot(call: ModuleCall) -> TaskResult:
    args = call.args
    if call.check:
        return TaskResult("changed", "would reboot (check mode)", {"rebooted": False, "check_mode": True})
    try:
        return reboot_and_wait(call, timeout=args["reboot_timeout"], msg=args["msg"] or DEFAULT_MSG,
                               delay=args["pre_reboot_delay"], post_delay=args["post_reboot_delay"],
                               test=args["test_command"])
    except CommandTimeout as exc:
        return TaskResult("failed", f"timed out: {exc}")


def _rules(args: dict[str, Any]) -> None:
    for name in ("reboot_timeout", "pre_reboot_delay", "post_reboot_delay"):
        if args[name] < 0:
            raise ArgProblem(name, f"got {args[name]}", "expected 0 or more seconds")
    if args["reboot_timeout"] < 1:
        raise ArgProblem("reboot_timeout", f"got {args['reboot_timeout']}", "expected at least 1 second")
    if len(str(args["msg"] or "")) > 512:
        raise ArgProblem("msg", "longer than 512 characters", "expected a short message (shutdown /c)")


register(ModuleSpec(
    "win_reboot", "windows",
    (Arg("reboot_timeout", "int", default=600, help="seconds for the host to come back with a new boot time"),
     Arg("pre_reboot_delay", "int", default=2, help="seconds before the reboot (shutdown /t)"),
     Arg("post_reboot_delay", "int", default=0, help="seconds to wait after the reboot command before checking"),
     Arg("test_command", default="whoami", help="PowerShell that must succeed once the host is back"),
     Arg("msg", default=DEFAULT_MSG, help="the message shutdown shows (shutdown /c)")),
    "plan", _win_reboot, "reboot a Windows host and wait until it is back with a new boot time", validate=_rules,
))
