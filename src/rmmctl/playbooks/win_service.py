"""The Windows `win_service` module: state started/stopped/restarted, start_mode auto/manual/disabled/delayed.

One script reads the service (Get-Service: Status, StartType; the DelayedAutostart value under
HKLM:\\SYSTEM\\CurrentControlSet\\Services\\NAME tells `delayed` from `auto`); the plan is made here;
only if something must change does the same script run again with the actions (`sc.exe config NAME
start= auto|demand|disabled|delayed-auto` first, PS 5.1's Set-Service has no delayed start; then
Start-/Stop-/Restart-Service, waiting for the status) and read the state after them. The name travels as
JSON data and is checked to be a plain service name (no wildcard: Get-Service -Name would expand it).
"""

from __future__ import annotations

import re
from typing import Any

from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.win_common import guarded, module_script, run_script

NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ .@+-]{0,255}")
SC_MODES = {"auto": "auto", "manual": "demand", "disabled": "disabled", "delayed": "delayed-auto"}
WAIT_S = 60

module_script("win_service", r"""
  $n = [string]$Params.name
  function State {
    $s = Get-Service -Name $n
    $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\' + $s.Name
    $d = (Get-ItemProperty -LiteralPath $key -Name DelayedAutostart -ErrorAction SilentlyContinue).DelayedAutostart
    [pscustomobject]@{ name = $s.Name; display = $s.DisplayName; status = "$($s.Status)"; start_type = "$($s.StartType)"; delayed = ($d -eq 1) }
  }
  $wait = [TimeSpan]::FromSeconds([int]$Params.wait)
  foreach ($a in @($Params.actions)) {
    if ($a -eq 'start') { Start-Service -Name $n; (Get-Service -Name $n).WaitForStatus('Running', $wait) }
    elseif ($a -eq 'stop') { Stop-Service -Name $n -Force; (Get-Service -Name $n).WaitForStatus('Stopped', $wait) }
    elseif ($a -eq 'restart') { Restart-Service -Name $n -Force; (Get-Service -Name $n).WaitForStatus('Running', $wait) }
    elseif ($a -like 'mode:*') {
      $ErrorActionPreference = 'Continue'
      $out = @(& sc.exe config $n start= ($a.Substring(5)) 2>&1 | ForEach-Object { "$_" })
      $ErrorActionPreference = 'Stop'
      if ($LASTEXITCODE -ne 0) { throw "sc.exe config $n start= $($a.Substring(5)): $(($out -join ' ').Trim())" }
    }
  }
  State
""")


def start_mode(state: dict[str, Any]) -> str:
    """auto / delayed / manual / disabled (or the StartType word: Boot, System) of a read state."""
    kind = str(state.get("start_type") or "")
    if kind == "Automatic":
        return "delayed" if state.get("delayed") else "auto"
    return {"Manual": "manual", "Disabled": "disabled"}.get(kind, kind.lower() or "unknown")


def plan(state: dict[str, Any], wanted: str | None, mode: str | None) -> list[str]:
    """The actions, in order: the start mode first (a disabled service cannot start), then the state."""
    actions: list[str] = []
    if mode is not None and start_mode(state) != mode:
        actions.append(f"mode:{SC_MODES[mode]}")
    running = state.get("status") == "Running"
    if wanted == "started" and not running:
        actions.append("start")
    elif wanted == "stopped" and state.get("status") != "Stopped":
        actions.append("stop")
    elif wanted == "restarted":
        actions.append("restart")
    return actions


def _text(action: str) -> str:
    if action.startswith("mode:"):
        mode = next(k for k, v in SC_MODES.items() if v == action[5:])
        return f"set start mode {mode}"
    return action


def _win_service(call: ModuleCall) -> TaskResult:
    args = call.args
    name = args["name"]

    def body() -> TaskResult:
        state = run_script(call, "win_service", {"name": name, "actions": [], "wait": WAIT_S}, audit=f"read {name}")
        data: dict[str, Any] = {"name": name, "status": state.get("status"), "start_mode": start_mode(state)}
        actions = plan(state, args["state"], args["start_mode"])
        data["actions"] = [_text(a) for a in actions]
        if not actions:
            return TaskResult("ok", f"{name} is as wanted ({data['status']}, start mode {data['start_mode']})", data)
        what = ", ".join(data["actions"])
        if call.check:
            return TaskResult("changed", f"would {what} {name} (check mode)", {**data, "check_mode": True})
        after = run_script(call, "win_service", {"name": name, "actions": actions, "wait": WAIT_S},
                           audit=f"{what} {name}", timeout=WAIT_S * len(actions) + 30)
        data.update(status=after.get("status"), start_mode=start_mode(after))
        return TaskResult("changed", f"{what} {name} (now {data['status']}, start mode {data['start_mode']})", data)
    return guarded(f"win_service {name}", call, body)


def _rules(args: dict) -> None:
    if not NAME_RE.fullmatch(str(args["name"])):
        raise ArgProblem("name", f"got {args['name']!r}", "expected a service name (letters, digits, _ . @ + - "
                         "and spaces; no wildcards or quotes)")
    if args["state"] is None and args["start_mode"] is None:
        raise ArgProblem("state", "give state or start_mode (or both)", "expected e.g. `state: started`")
    if args["start_mode"] == "disabled" and args["state"] in ("started", "restarted"):
        raise ArgProblem("state", f"a disabled service cannot be {args['state']}", "expected stopped, or another start_mode")


register(ModuleSpec(
    "win_service", "windows",
    (Arg("name", required=True, help="the service name (Spooler, wuauserv), not its display name"),
     Arg("state", choices=("started", "stopped", "restarted"),
         help="started/stopped: only if not already; restarted: always"),
     Arg("start_mode", choices=("auto", "manual", "disabled", "delayed"),
         help="the start type; delayed: automatic, delayed start")),
    "plan", _win_service, "start, stop or restart a Windows service, set its start mode (changed only if it changed)",
    validate=_rules,
))
