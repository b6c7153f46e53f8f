"""The Windows `win_printer` module: the print spooler and its queues.

One script reads the state: the Spooler service, Get-Printer (status, driver, job count), Get-PrintJob
(age on the host's clock), the files in %SystemRoot%\\System32\\spool\\PRINTERS (.SHD/.SPL with age and size)
and the installed printer drivers. The plan is made here; the same script then runs the actions, each in
its own try (one failing never skips the start of the spooler after a stop), and reads the state again:

- clear the spool folder **safely**: Stop-Service Spooler -Force, wait Stopped, remove the files older than
  `spool_older_than_minutes` (0: all), Start-Service, wait Running (a disabled spooler is set Automatic);
- restart the spooler (`restart_spooler: always`) or start it when it is down (`if_down`);
- add a driver from a driver store path (`pnputil /add-driver INF /install`, then Add-PrinterDriver) when
  `driver_name` is not installed, and set it on the named printers (Set-Printer -DriverName); with
  `driver_reinstall: true` install it again from its INF although it is installed (a driver that fails to
  load), the printers keeping their drivers;
- pause / resume printers (Win32_Printer Pause/Resume).
Every value travels as JSON data. A spooler that is not Running at the end fails the task.
"""

from __future__ import annotations

from typing import Any

from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.win_common import WinFailed, bad_path, dicts, guarded, human_bytes, module_script, run_script, strings

RESTART = {"true": "always", "yes": "always", "always": "always", "false": "never", "no": "never",
           "never": "never", "if_down": "if_down"}
WAIT_S = 30

module_script("win_printer", r"""
  $dir = Join-Path $env:SystemRoot 'System32\spool\PRINTERS'
  $wait = [TimeSpan]::FromSeconds([int]$Params.wait)
  function Read-State {
    $sp = Get-Service -Name Spooler
    $pr = @(); $jobs = @(); $drv = @()
    if ("$($sp.Status)" -eq 'Running') {
      $pr = @(Get-Printer | ForEach-Object { [pscustomobject]@{ name = $_.Name; driver = $_.DriverName; status = "$($_.PrinterStatus)"; jobs = [int]$_.JobCount } })
      $jobs = @(foreach ($q in $pr) { Get-PrintJob -PrinterName $q.name -ErrorAction SilentlyContinue | ForEach-Object {
        [pscustomobject]@{ printer = $q.name; id = [int]$_.Id; document = "$($_.DocumentName)"; status = "$($_.JobStatus)"; age_s = Age $_.SubmittedTime; size = [long]$_.Size } } })
      $drv = @(Get-PrinterDriver | ForEach-Object { $_.Name })
    }
    $files = @(Get-ChildItem -LiteralPath $dir -File -Force -ErrorAction SilentlyContinue | ForEach-Object {
      [pscustomobject]@{ name = $_.Name; age_s = Age $_.LastWriteTime; size = [long]$_.Length } })
    $inf = $null
    if ($Params.inf) { $inf = [bool](Test-Path -LiteralPath $Params.inf) }
    [pscustomobject]@{ spooler = [pscustomobject]@{ status = "$($sp.Status)"; start_type = "$($sp.StartType)" }; printers = $pr; jobs = $jobs; spool = $files; drivers = $drv; inf_exists = $inf }
  }
  function Start-Spooler {
    if ("$((Get-Service -Name Spooler).StartType)" -eq 'Disabled') { Set-Service -Name Spooler -StartupType Automatic }
    Start-Service -Name Spooler
    (Get-Service -Name Spooler).WaitForStatus('Running', $wait)
  }
  function Printer-Call($name, $method) {
    $w = @(Get-CimInstance -ClassName Win32_Printer -OperationTimeoutSec 30 | Where-Object { $_.Name -eq $name })
    if ($w.Count -eq 0) { throw "no printer $name" }
    $r = Invoke-CimMethod -InputObject $w[0] -MethodName $method -OperationTimeoutSec 30
    if ($r.ReturnValue -ne 0) { throw "$method $name returned $($r.ReturnValue)" }
  }
  $done = @(foreach ($a in @($Params.actions)) {
    $res = [ordered]@{ op = $a.op; ok = $true; error = $null; removed = @(); bytes = 0 }
    try {
      if ($a.op -eq 'stop_spooler') { Stop-Service -Name Spooler -Force; (Get-Service -Name Spooler).WaitForStatus('Stopped', $wait) }
      elseif ($a.op -eq 'clear_files') {
        $left = @()
        foreach ($f in @(Get-ChildItem -LiteralPath $dir -File -Force -ErrorAction SilentlyContinue)) {
          if ([int]$a.minutes -gt 0 -and (Age $f.LastWriteTime) -lt ([int]$a.minutes * 60)) { continue }
          try { Remove-Item -LiteralPath $f.FullName -Force; $res.removed += $f.Name; $res.bytes += [long]$f.Length }
          catch { $left += "$($f.Name): $($_.Exception.Message)" }
        }
        if ($left.Count -gt 0) { throw "could not remove $($left -join '; ')" }
      }
      elseif ($a.op -eq 'start_spooler') { Start-Spooler }
      elseif ($a.op -eq 'restart_spooler') { Restart-Service -Name Spooler -Force; (Get-Service -Name Spooler).WaitForStatus('Running', $wait) }
      elseif ($a.op -eq 'add_driver') {
        $ErrorActionPreference = 'Continue'
        $out = @(& pnputil.exe /add-driver $a.inf /install 2>&1 | ForEach-Object { "$_" })
        $ErrorActionPreference = 'Stop'
        if ($LASTEXITCODE -ne 0 -and $LASTEXITCODE -ne 3010) { throw "pnputil /add-driver: exit $LASTEXITCODE $(($out | Select-Object -Last 2) -join ' ')" }
        Add-PrinterDriver -Name $a.driver
      }
      elseif ($a.op -eq 'set_driver') { Set-Printer -Name $a.printer -DriverName $a.driver }
      elseif ($a.op -eq 'resume') { Printer-Call $a.printer 'Resume' }
      elseif ($a.op -eq 'pause') { Printer-Call $a.printer 'Pause' }
      else { throw "unknown action $($a.op)" }
    } catch { $res.ok = $false; $res.error = "$($_.Exception.Message)" }
    [pscustomobject]$res
  })
  [pscustomobject]@{ acts = $done; state = (Read-State) }
""")


def _read(call: ModuleCall, args: dict[str, Any], actions: list[dict[str, Any]] | None = None,
          audit: str = "read the spooler state") -> dict[str, Any]:
    params = {"actions": actions or [], "wait": WAIT_S, "inf": args["driver_inf"]}
    got = run_script(call, "win_printer", params, audit=audit, timeout=WAIT_S * (2 + len(actions or [])) + 30)
    if not isinstance(got, dict) or not isinstance(got.get("state"), dict):
        raise WinFailed("unreadable spooler state")
    return got


def _running(state: dict[str, Any]) -> bool:
    return (state.get("spooler") or {}).get("status") == "Running"


def select(state: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    printers = dicts(state.get("printers"))
    if names == ["all"]:
        return printers
    by_name = {p.get("name"): p for p in printers}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise WinFailed(f"no such printer: {', '.join(missing)} (printers here: {', '.join(sorted(map(str, by_name))) or 'none'})")
    return [by_name[n] for n in dict.fromkeys(names)]


def old(items: list[dict[str, Any]], minutes: int) -> list[dict[str, Any]]:
    """The items (jobs, spool files) at least `minutes` old (every one for 0)."""
    return [i for i in items if minutes == 0 or (i.get("age_s") is not None and float(i["age_s"]) >= minutes * 60)]


def plan(state: dict[str, Any], args: dict[str, Any], *, started: bool = False
         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The actions in order (driver, spool cycle or restart, set driver, resume/pause) and what would go;
    `started`: the spooler was just started (a restart would add nothing)."""
    actions: list[dict[str, Any]] = []
    gone: dict[str, Any] = {"files": [], "jobs": []}
    drivers = set(strings(state.get("drivers")))
    chosen = select(state, args["name"])
    wanted = args["driver_name"]
    reinstall = bool(args["driver_reinstall"]) and wanted in drivers
    if wanted and (wanted not in drivers or reinstall):
        if not args["driver_inf"]:
            raise WinFailed(f"printer driver {wanted!r} is not installed; give driver_inf (an INF in the driver store path)")
        if state.get("inf_exists") is False:
            raise WinFailed(f"driver_inf {args['driver_inf']}: no such file on the host")
        actions.append({"op": "add_driver", "inf": args["driver_inf"], "driver": wanted,
                        "text": f"{'reinstall' if reinstall else 'add'} driver {wanted} from {args['driver_inf']}"})
    cycled = started
    if args["clear_spool"]:
        minutes = args["spool_older_than_minutes"]
        files = old(dicts(state.get("spool")), minutes)
        gone = {"files": files, "jobs": old(dicts(state.get("jobs")), minutes)}
        if files:
            size = sum(int(f.get("size") or 0) for f in files)
            actions += [{"op": "stop_spooler", "text": "stop the spooler"},
                        {"op": "clear_files", "minutes": minutes,
                         "text": f"remove {len(files)} spool file(s) ({human_bytes(size)})"},
                        {"op": "start_spooler", "text": "start the spooler"}]
            cycled = True
    if args["restart_spooler"] == "always" and not cycled:
        actions.append({"op": "restart_spooler", "text": "restart the spooler"})
    for p in chosen:
        if wanted and not args["driver_reinstall"] and p.get("driver") != wanted:
            actions.append({"op": "set_driver", "printer": p["name"], "driver": wanted,
                            "text": f"set the driver of {p['name']} to {wanted}"})
        paused = "Paused" in str(p.get("status") or "")
        if args["state"] == "resumed" and paused:
            actions.append({"op": "resume", "printer": p["name"], "text": f"resume {p['name']}"})
        elif args["state"] == "paused" and not paused:
            actions.append({"op": "pause", "printer": p["name"], "text": f"pause {p['name']}"})
    return actions, gone


def _shown(gone: dict[str, Any]) -> dict[str, Any]:
    return {"files": [f.get("name") for f in gone["files"]],
            "jobs": [{k: j.get(k) for k in ("printer", "id", "document", "status", "age_s")} for j in gone["jobs"]]}


def _win_printer(call: ModuleCall) -> TaskResult:
    args = call.args
    data: dict[str, Any] = {"actions": []}

    def body() -> TaskResult:
        got = _read(call, args)
        state = got["state"]
        done: list[dict[str, Any]] = []
        if not _running(state):
            spooler = state.get("spooler") or {}
            if args["restart_spooler"] == "never":
                raise WinFailed(f"the spooler is {spooler.get('status') or 'missing'} (start type "
                                f"{spooler.get('start_type')}); `restart_spooler: if_down` starts it")
            start = {"op": "start_spooler", "text": "start the spooler"}
            if call.check:
                data["actions"] = [start["text"]]
                return TaskResult("changed", "would start the spooler; the printers are read once it runs (check mode)",
                                  {**data, "check_mode": True})
            got = _read(call, args, [start], "start the spooler")
            state = got["state"]
            _merge(data, [start], got)
            done.append(start)
            if not _running(state) or not all(a.get("ok") for a in dicts(got.get("acts"))):
                raise WinFailed("could not start the spooler: " + _errors(got))
        actions, gone = plan(state, args, started=bool(done))
        data.update(gone=_shown(gone), printers=[p.get("name") for p in select(state, args["name"])])
        if call.check:
            data["actions"] = [a["text"] for a in actions]
            named = [f"job {j.get('id')} ({j.get('document')}) on {j.get('printer')}" for j in gone["jobs"][:3]]
            more = f" and {len(gone['jobs']) - 3} more" if len(gone["jobs"]) > 3 else ""
            jobs = f"; would drop {', '.join(named)}{more}" if gone["jobs"] else ""
            if not actions:
                return TaskResult("ok", "the spooler and the selected printers are as wanted (check mode)", data)
            return TaskResult("changed", f"would {', '.join(data['actions'])}{jobs} (check mode)",
                              {**data, "check_mode": True})
        if actions:
            got = _read(call, args, [{k: v for k, v in a.items() if k != "text"} for a in actions],
                        "; ".join(a["text"] for a in actions))
            state = got["state"]
            _merge(data, actions, got)
            done += actions
            if not all(a.get("ok") for a in dicts(got.get("acts"))):
                return TaskResult("failed", _errors(got), data)
        data["spooler"] = state.get("spooler")
        if not _running(state):
            return TaskResult("failed", f"the spooler is not running afterwards ({(state.get('spooler') or {}).get('status')})", data)
        if not done:
            return TaskResult("ok", "the spooler is running and the selected printers are as wanted", data)
        return TaskResult("changed", ", ".join(a["text"] for a in done) + "; the spooler is running", data)
    result = guarded("win_printer", call, body)
    return result if result.data else TaskResult(result.status, result.msg, data)


def _merge(data: dict[str, Any], actions: list[dict[str, Any]], got: dict[str, Any]) -> None:
    for a, r in zip(actions, dicts(got.get("acts"))):
        data["actions"].append(a["text"])
        if r.get("removed"):
            data["removed"] = data.get("removed", []) + strings(r.get("removed"))
            data["bytes_freed"] = data.get("bytes_freed", 0) + int(r.get("bytes") or 0)


def _errors(got: dict[str, Any]) -> str:
    bad = [f"{a.get('op')}: {a.get('error')}" for a in dicts(got.get("acts")) if not a.get("ok")]
    return "; ".join(bad)[:300] or "an action failed"


def _rules(args: dict) -> None:
    names = args["name"] = [part.strip() for n in args["name"] or [] for part in str(n).split(",") if part.strip()]
    if not names:
        raise ArgProblem("name", "got an empty list", "expected a printer, a list of printers, or all")
    if "all" in names and len(names) > 1:
        raise ArgProblem("name", "all together with other names", "expected either all or a list of printers")
    restart = args["restart_spooler"]
    key = str(restart).strip().lower() if isinstance(restart, (str, bool)) else None
    if key not in RESTART:
        raise ArgProblem("restart_spooler", f"got {restart!r}", "expected true (always), false (never) or if_down")
    args["restart_spooler"] = RESTART[key]
    if args["spool_older_than_minutes"] < 0:
        raise ArgProblem("spool_older_than_minutes", f"got {args['spool_older_than_minutes']}", "expected 0 or more minutes")
    if args["driver_inf"] is not None and (bad_path(args["driver_inf"]) or not args["driver_inf"].lower().endswith(".inf")):
        raise ArgProblem("driver_inf", f"got {args['driver_inf']!r}", "expected an absolute path to an .inf file on the host")
    if args["driver_inf"] and not args["driver_name"]:
        raise ArgProblem("driver_name", "driver_inf needs the driver's name (as in the INF)", "expected driver_name")
    if args["driver_reinstall"] and not (args["driver_name"] and args["driver_inf"]):
        raise ArgProblem("driver_reinstall", "needs driver_name and driver_inf", "expected the driver and its INF")
    if args["driver_name"] and names == ["all"] and not args["driver_reinstall"]:
        raise ArgProblem("driver_name", "would set one driver on every printer", "expected `name:` to list the printers")
    if not (args["state"] or args["clear_spool"] or args["driver_name"]) and args["restart_spooler"] == "never":
        raise ArgProblem("state", "nothing to do", "expected state, clear_spool, restart_spooler or driver_name")


register(ModuleSpec(
    "win_printer", "windows",
    (Arg("name", "list", default=["all"], aliases=("printer", "printers"),
         help="a printer, a list (or a comma-separated string), or all (the default)"),
     Arg("state", choices=("paused", "resumed"), help="resumed: resume paused printers; paused: pause them"),
     Arg("restart_spooler", "restart", default="never",
         help="if_down: start the spooler when it is not running; true: restart it always; false: never"),
     Arg("clear_spool", "bool", default=False,
         help="stop the spooler, remove the spool files older than spool_older_than_minutes, start it again"),
     Arg("spool_older_than_minutes", "int", default=15, help="the age of the spool files to remove (0: all)"),
     Arg("driver_name", help="the printer driver to have (installed from driver_inf when missing) and set"),
     Arg("driver_inf", help="an .inf in a driver store path on the host (pnputil /add-driver INF /install)"),
     Arg("driver_reinstall", "bool", default=False,
         help="install driver_name from driver_inf even when it is installed (a driver that fails to load); "
              "the printers keep their drivers")),
    "plan", _win_printer, "repair the Windows print spooler: clear stuck spool files, restart, resume, set a driver",
    validate=_rules,
))
