"""The Windows `win_updates` module: search, and install through a SYSTEM scheduled task.

The Windows Update Agent searches fine in a WinRM logon but refuses to download or install there
(E_ACCESSDENIED, 0x80070005). So, as Ansible does: one script searches (Microsoft.Update.Session, the
updates not installed and not hidden, each with its categories; those in `category_names` are selected,
names compared without spaces and case, `SecurityUpdates` = "Security Updates"); to install, the module
writes a worker script and its parameters under %ProgramData%\\rmmctl, registers a scheduled task
`\\rmmctl\\rmmctl-wu-NONCE` that runs the worker as SYSTEM (highest privileges), starts it, polls it
(Get-ScheduledTask state, Get-ScheduledTaskInfo LastTaskResult and the JSON result file the worker
writes: per update its result code, and whether a reboot is required) and always unregisters it and
removes the files afterwards. It reboots (win_reboot's reboot_and_wait) only with `reboot: true` and the
host inside its maintenance window (`maintenance_window_open`). Check mode is the search's list.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.win_common import SCRIPTS, WinFailed, dicts, guarded, module_script, run_script, strings, truthy
from rmmctl.playbooks.win_reboot import _pause, reboot_and_wait

DEFAULT_CATEGORIES = ["CriticalUpdates", "SecurityUpdates", "UpdateRollups"]
NOT_YET_RUN, RUNNING = 0x41303, 0x41301  # LastTaskResult: SCHED_S_TASK_HAS_NOT_RUN, SCHED_S_TASK_RUNNING
RESULT_CODES = {0: "not started", 1: "in progress", 2: "succeeded", 3: "succeeded with errors", 4: "failed",
                5: "aborted"}

WORKER = r"""# rmmctl-wu-worker@1: runs as SYSTEM from a scheduled task; args[0] is its parameters' JSON file
$ErrorActionPreference = 'Stop'
$Params = [IO.File]::ReadAllText($args[0]) | ConvertFrom-Json
function Save($o) {
  $tmp = $Params.result + '.tmp'
  [IO.File]::WriteAllText($tmp, (ConvertTo-Json -InputObject $o -Depth 6 -Compress))
  Move-Item -LiteralPath $tmp -Destination $Params.result -Force
}
try {
  $s = New-Object -ComObject Microsoft.Update.Session
  $found = $s.CreateUpdateSearcher().Search("IsInstalled=0 and IsHidden=0 and Type='Software'").Updates
  $want = New-Object -ComObject Microsoft.Update.UpdateColl
  foreach ($u in $found) {
    if (@($Params.ids) -contains $u.Identity.UpdateID) {
      if (-not $u.EulaAccepted) { $u.AcceptEula() }
      [void]$want.Add($u)
    }
  }
  if ($want.Count -eq 0) { Save ([pscustomobject]@{ done = $true; result = 2; reboot = $false; updates = @() }); exit 0 }
  $d = $s.CreateUpdateDownloader()
  $d.Updates = $want
  [void]$d.Download()
  $i = $s.CreateUpdateInstaller()
  $i.Updates = $want
  $r = $i.Install()
  $out = @(for ($k = 0; $k -lt $want.Count; $k++) {
    $u = $want.Item($k)
    $g = $r.GetUpdateResult($k)
    [pscustomobject]@{ id = $u.Identity.UpdateID; title = $u.Title; result = [int]$g.ResultCode; hresult = [long]$g.HResult }
  })
  Save ([pscustomobject]@{ done = $true; result = [int]$r.ResultCode; reboot = [bool]$r.RebootRequired; updates = $out })
} catch {
  Save ([pscustomobject]@{ done = $true; error = "$($_.Exception.Message)"; updates = @() })
  exit 1
}
"""
SCRIPTS["win_updates-worker"] = WORKER  # parsed with the module scripts in tests

module_script("win_updates", r"""
  $dir = Join-Path $env:ProgramData 'rmmctl'
  $tp = '\rmmctl\'
  if ($Params.op -eq 'search') {
    $s = New-Object -ComObject Microsoft.Update.Session
    $r = $s.CreateUpdateSearcher().Search("IsInstalled=0 and IsHidden=0 and Type='Software'")
    $want = @(@($Params.categories) | ForEach-Object { ("$_" -replace ' ', '').ToLower() })
    $list = @(foreach ($u in $r.Updates) {
      $cats = @(foreach ($c in $u.Categories) { "$($c.Name)" })
      $hit = @($cats | Where-Object { $want -contains ($_ -replace ' ', '').ToLower() }).Count -gt 0
      [pscustomobject]@{ id = "$($u.Identity.UpdateID)"; title = "$($u.Title)"; kb = @(foreach ($k in $u.KBArticleIDs) { "KB$k" }); categories = $cats; selected = $hit; reboot = [bool]$u.RebootRequired; size = [long]$u.MaxDownloadSize }
    })
    $pending = Test-Path -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
    return [pscustomobject]@{ updates = $list; reboot_pending = $pending }
  }
  $ps1 = Join-Path $dir "$($Params.task).ps1"
  $json = Join-Path $dir "$($Params.task).json"
  $res = Join-Path $dir "$($Params.task).result.json"
  if ($Params.op -eq 'start') {
    if (-not (Test-Path -LiteralPath $dir)) { [void](New-Item -ItemType Directory -Path $dir -Force) }
    Remove-Item -LiteralPath $res -Force -ErrorAction SilentlyContinue
    [IO.File]::WriteAllText($ps1, [string]$Params.worker)
    [IO.File]::WriteAllText($json, (ConvertTo-Json -InputObject ([pscustomobject]@{ ids = @($Params.ids); result = $res }) -Compress))
    $action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$ps1`" `"$json`""
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -ExecutionTimeLimit ([TimeSpan]::FromSeconds([int]$Params.limit))
    [void](Register-ScheduledTask -TaskName $Params.task -TaskPath $tp -Action $action -Principal $principal -Settings $settings -Force)
    Start-ScheduledTask -TaskName $Params.task -TaskPath $tp
    return [pscustomobject]@{ task = $Params.task; result = $res }
  }
  if ($Params.op -eq 'poll') {
    $t = Get-ScheduledTask -TaskName $Params.task -TaskPath $tp -ErrorAction SilentlyContinue
    $last = $null
    if ($t) { $last = [long](Get-ScheduledTaskInfo -InputObject $t).LastTaskResult }
    $raw = $null
    if (Test-Path -LiteralPath $res) { $raw = [IO.File]::ReadAllText($res) }
    return [pscustomobject]@{ exists = [bool]$t; state = "$($t.State)"; last_result = $last; result = $raw }
  }
  Unregister-ScheduledTask -TaskName $Params.task -TaskPath $tp -Confirm:$false -ErrorAction SilentlyContinue
  foreach ($f in @($ps1, $json, $res)) { Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue }
  [pscustomobject]@{ removed = $true }
""")


def _listed(u: dict[str, Any]) -> dict[str, Any]:
    return {"id": u.get("id"), "title": u.get("title"), "kb": strings(u.get("kb")),
            "categories": strings(u.get("categories")), "reboot": bool(u.get("reboot"))}


def _titles(updates: list[dict[str, Any]], n: int = 3) -> str:
    shown = ", ".join(str(u["kb"][0] if u.get("kb") else u.get("title")) for u in updates[:n])
    return shown + (f" and {len(updates) - n} more" if len(updates) > n else "")


def _install(call: ModuleCall, ids: list[str], data: dict[str, Any]) -> dict[str, Any]:
    """Register, start and poll the SYSTEM task until its result file is there; always unregister it."""
    args = call.args
    task = f"rmmctl-wu-{secrets.token_hex(6)}"
    data["task"] = f"\\rmmctl\\{task}"
    limit = int(args["install_timeout"])
    run_script(call, "win_updates", {"op": "start", "task": task, "ids": ids, "worker": WORKER, "limit": limit},
               audit=f"register and start the SYSTEM task {task} ({len(ids)} update(s))")
    try:
        end = time.monotonic() + limit
        if call.ctx.deadline is not None:
            end = min(end, call.ctx.deadline - 30)
        polls = 0
        while True:
            polls += 1
            got = run_script(call, "win_updates", {"op": "poll", "task": task}, audit=f"poll {task}")
            data["polls"] = polls
            if got.get("result"):
                from rmmctl.probes.windows.shapes import as_dict

                try:
                    return dict(as_dict(json.loads(got["result"]), "the task's result"))
                except Exception as exc:  # noqa: BLE001 - an unreadable file is the task's failure
                    raise WinFailed(f"the task's result file is unreadable: {exc}") from None
            if not got.get("exists"):
                raise WinFailed(f"the scheduled task {task} is gone without a result")
            not_yet = int(got.get("last_result") or 0) in (NOT_YET_RUN, RUNNING)
            if got.get("state") not in ("Running", "Queued") and polls > 1 and not not_yet:
                raise WinFailed(f"the scheduled task ended ({got.get('state')}, last result "
                                f"0x{int(got.get('last_result') or 0) & 0xFFFFFFFF:08X}) without a result file")
            if call.ctx.stopping:
                raise WinFailed("interrupted while the updates install (the task keeps running on the host)")
            if time.monotonic() + args["poll_interval"] > end:
                raise WinFailed(f"the updates did not finish within {limit} s (install_timeout)")
            _pause(call, args["poll_interval"])
    finally:
        run_script(call, "win_updates", {"op": "cleanup", "task": task}, audit=f"unregister {task}")


def _win_updates(call: ModuleCall) -> TaskResult:
    args = call.args
    data: dict[str, Any] = {"updates": [], "installed": [], "failed": [], "reboot_required": False, "rebooted": False}

    def body() -> TaskResult:
        found = run_script(call, "win_updates", {"op": "search", "categories": args["category_names"]},
                           audit="search", timeout=1800)
        chosen = [_listed(u) for u in dicts(found.get("updates")) if u.get("selected")]
        data["updates"] = chosen
        data["found"] = len(dicts(found.get("updates")))
        pending = bool(found.get("reboot_pending"))
        if call.check or args["state"] == "searched":
            if not chosen:
                return TaskResult("ok", "no updates in " + ", ".join(args["category_names"]), {**data, "check_mode": call.check})
            msg = f"{len(chosen)} update(s) to install: {_titles(chosen)}"
            if call.check:
                return TaskResult("changed", f"would install {len(chosen)} update(s): {_titles(chosen)} (check mode)",
                                  {**data, "check_mode": True})
            return TaskResult("ok", msg, data)
        if chosen:
            result = _install(call, [str(u["id"]) for u in chosen], data)
            if result.get("error"):
                return TaskResult("failed", f"the update task failed: {result['error']}"[:300], data)
            per = {str(u.get("id")): u for u in dicts(result.get("updates"))}
            for u in chosen:
                code = int((per.get(str(u["id"])) or {}).get("result") or 0)
                (data["installed"] if code in (2, 3) else data["failed"]).append(
                    {**u, "result": RESULT_CODES.get(code, str(code))})
            data["reboot_required"] = bool(result.get("reboot"))
        needs = data["reboot_required"] or pending
        data["reboot_required"] = needs
        parts = []
        if data["installed"]:
            parts.append(f"installed {len(data['installed'])}: {_titles(data['installed'])}")
        if data["failed"]:
            parts.append(f"failed {len(data['failed'])}: {_titles(data['failed'])}")
        if not chosen:
            parts.append("no updates to install")
        if needs:
            if args["reboot"] and truthy(call.variables.get("maintenance_window_open", True)):
                back = reboot_and_wait(call, timeout=args["reboot_timeout"], msg="Reboot for updates by rmmctl")
                data["rebooted"] = back.status == "changed"
                data["reboot"] = dict(back.data)
                if back.status == "failed":
                    return TaskResult("failed", "; ".join(parts + [back.msg])[:300], data)
                parts.append(back.msg)
            else:
                why = "reboot: false" if not args["reboot"] else "outside the maintenance window"
                parts.append(f"a reboot is required (not rebooted: {why})")
        status = "failed" if data["failed"] else "changed" if data["installed"] or data["rebooted"] else "ok"
        return TaskResult(status, "; ".join(parts)[:300], data)
    result = guarded("win_updates", call, body)
    return result if result.data else TaskResult(result.status, result.msg, data)


def _rules(args: dict[str, Any]) -> None:
    cats = args["category_names"] = args["category_names"] or list(DEFAULT_CATEGORIES)
    for c in cats:
        if not c.replace(" ", "").isalnum():
            raise ArgProblem("category_names", f"got {c!r}", "expected names like SecurityUpdates, CriticalUpdates")
    for name, low in (("reboot_timeout", 1), ("install_timeout", 60), ("poll_interval", 1)):
        if args[name] < low:
            raise ArgProblem(name, f"got {args[name]}", f"expected at least {low} second(s)")


register(ModuleSpec(
    "win_updates", "windows",
    (Arg("category_names", "list", help="update categories (default CriticalUpdates, SecurityUpdates, "
                                        "UpdateRollups); spaces and case do not matter"),
     Arg("state", choices=("installed", "searched"), default="installed", help="searched: only list them"),
     Arg("reboot", "bool", default=False, help="reboot when an update asks for it, inside the maintenance window"),
     Arg("reboot_timeout", "int", default=1200, help="seconds for the host to come back after the reboot"),
     Arg("install_timeout", "int", default=3600, help="seconds the SYSTEM task may take to download and install"),
     Arg("poll_interval", "int", default=10, help="seconds between polls of the task")),
    "plan", _win_updates, "search and install Windows updates (via a SYSTEM scheduled task); reboot in the window",
    validate=_rules,
))
