"""Windows maintenance modules: `win_cleanup`, `win_defender_update`, `win_optimize_volume`.

`win_cleanup` lists (check mode) or removes (a real run) the files older than `older_than_days` under the
temp folders (never descending into a junction or a directory symlink, so a link cannot lead it elsewhere) (%SystemRoot%\\Temp, every profile's AppData\\Local\\Temp), the Windows Update download cache
(SoftwareDistribution\\Download: only while wuauserv is Stopped, else it is skipped with the reason), old
spool files and any `paths`; one script per task, bytes freed and files in use (skipped) reported.
`win_defender_update` reads the signature age, runs Update-MpSignature (falling back to MpCmdRun.exe
-SignatureUpdate) and reads it again. `win_optimize_volume` reads each fixed volume's disk media type
(Get-Partition | Get-Disk, Get-PhysicalDisk): ReTrim on SSD, Defrag on HDD, the verbose stream kept with
`4>&1` (WinRS would turn stream 4 into CLIXML on stderr).
"""

from __future__ import annotations

import re
from typing import Any

from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.win_common import bad_path, dicts, guarded, human_bytes, module_script, run_script, strings

module_script("win_cleanup", r"""
  $cut = [long]$Params.older_than_days * 86400
  function Walk($top) {
    $todo = New-Object Collections.Stack
    $todo.Push($top)
    while ($todo.Count -gt 0) {
      foreach ($i in @(Get-ChildItem -LiteralPath $todo.Pop() -Force -ErrorAction SilentlyContinue)) {
        if (-not $i.PSIsContainer) { $i }
        elseif (-not ($i.Attributes -band [IO.FileAttributes]::ReparsePoint)) { $todo.Push($i.FullName) }
      }
    }
  }
  $roots = @()
  if ($Params.temp) {
    $roots += [pscustomobject]@{ path = (Join-Path $env:SystemRoot 'Temp'); kind = 'temp' }
    foreach ($u in @(Get-ChildItem -LiteralPath (Join-Path $env:SystemDrive 'Users') -Directory -Force -ErrorAction SilentlyContinue)) {
      $t = Join-Path $u.FullName 'AppData\Local\Temp'
      if (Test-Path -LiteralPath $t) { $roots += [pscustomobject]@{ path = $t; kind = 'temp' } }
    }
  }
  if ($Params.wu) { $roots += [pscustomobject]@{ path = (Join-Path $env:SystemRoot 'SoftwareDistribution\Download'); kind = 'wu' } }
  if ($Params.spool) { $roots += [pscustomobject]@{ path = (Join-Path $env:SystemRoot 'System32\spool\PRINTERS'); kind = 'spool' } }
  foreach ($x in @($Params.paths)) { if ($x) { $roots += [pscustomobject]@{ path = [Environment]::ExpandEnvironmentVariables([string]$x); kind = 'path' } } }
  $out = @(foreach ($r in $roots) {
    $row = [ordered]@{ path = $r.path; kind = $r.kind; files = 0; bytes = 0; sample = @(); skipped = $null; removed = 0; freed = 0; in_use = 0 }
    if ($r.kind -eq 'wu') {
      $wu = Get-Service -Name wuauserv -ErrorAction SilentlyContinue
      if ($wu -and "$($wu.Status)" -ne 'Stopped') { $row.skipped = "wuauserv is $($wu.Status)"; [pscustomobject]$row; continue }
    }
    if (-not (Test-Path -LiteralPath $r.path)) { $row.skipped = 'no such folder'; [pscustomobject]$row; continue }
    foreach ($f in @(Walk $r.path)) {
      if ((Age $f.LastWriteTime) -lt $cut) { continue }
      $row.files += 1; $row.bytes += [long]$f.Length
      if ($row.sample.Count -lt [int]$Params.listed) { $row.sample += $f.FullName }
      if ($Params.delete) {
        try { Remove-Item -LiteralPath $f.FullName -Force; $row.removed += 1; $row.freed += [long]$f.Length }
        catch { $row.in_use += 1 }
      }
    }
    [pscustomobject]$row
  })
  [pscustomobject]@{ roots = $out }
""")


def _cleanup(call: ModuleCall) -> TaskResult:
    args = call.args

    def body() -> TaskResult:
        params = {"temp": args["temp"], "wu": args["windows_update_cache"], "spool": args["spool"],
                  "paths": args["paths"] or [], "older_than_days": args["older_than_days"], "listed": 20,
                  "delete": not call.check}
        got = run_script(call, "win_cleanup", params, audit="list" if call.check else "remove old files",
                         timeout=1800)
        roots = dicts((got or {}).get("roots"))
        files = sum(int(r.get("files") or 0) for r in roots)
        size = sum(int(r.get("bytes") or 0) for r in roots)
        skipped = [f"{r.get('path')} ({r.get('skipped')})" for r in roots if r.get("skipped")]
        data: dict[str, Any] = {"roots": [{**r, "sample": strings(r.get("sample"))} for r in roots],
                                "files": files, "bytes": size, "skipped": skipped}
        tail = f"; skipped: {', '.join(skipped)}" if skipped else ""
        days = args["older_than_days"]
        if call.check:
            if not files:
                return TaskResult("ok", f"no files older than {days} day(s){tail} (check mode)", data)
            return TaskResult("changed", f"would remove {files} file(s), {human_bytes(size)}, older than {days} "
                              f"day(s){tail} (check mode)", {**data, "check_mode": True})
        removed = sum(int(r.get("removed") or 0) for r in roots)
        freed = sum(int(r.get("freed") or 0) for r in roots)
        in_use = sum(int(r.get("in_use") or 0) for r in roots)
        data.update(removed=removed, bytes_freed=freed, in_use=in_use)
        busy = f"; {in_use} in use, left" if in_use else ""
        if not removed:
            return TaskResult("ok", f"nothing removed: no files older than {days} day(s){busy}{tail}", data)
        return TaskResult("changed", f"removed {removed} file(s), freed {human_bytes(freed)}{busy}{tail}", data)
    return guarded("win_cleanup", call, body)


def _cleanup_rules(args: dict) -> None:
    if args["older_than_days"] < 0:
        raise ArgProblem("older_than_days", f"got {args['older_than_days']}", "expected 0 or more days")
    for p in args["paths"] or []:
        if bad_path(p) and not p.startswith("%"):
            raise ArgProblem("paths", f"got {p!r}", "expected absolute Windows folders like C:\\Temp or %TEMP%")
        if re.fullmatch(r"[A-Za-z]:\\?", p):
            raise ArgProblem("paths", f"got {p!r}", "expected a folder, not a whole drive")
    if not (args["temp"] or args["windows_update_cache"] or args["spool"] or args["paths"]):
        raise ArgProblem("temp", "nothing to clean", "expected temp, windows_update_cache, spool or paths")


register(ModuleSpec(
    "win_cleanup", "windows",
    (Arg("temp", "bool", default=True, help="%SystemRoot%\\Temp and every profile's AppData\\Local\\Temp"),
     Arg("windows_update_cache", "bool", default=False,
         help="SoftwareDistribution\\Download, only while wuauserv is stopped"),
     Arg("spool", "bool", default=False, help="old files in spool\\PRINTERS (files in use are left)"),
     Arg("paths", "list", aliases=("path",), help="more folders (absolute; %VARS% expanded on the host)"),
     Arg("older_than_days", "int", default=7, aliases=("age_days",), help="remove files last written this long ago")),
    "plan", _cleanup, "remove old temp, update-cache and spool files on Windows; bytes freed", validate=_cleanup_rules,
))


# ---------------------------------------------------------------- win_defender_update

module_script("win_defender_update", r"""
  if (-not (Get-Command Get-MpComputerStatus -ErrorAction SilentlyContinue)) { return [pscustomobject]@{ absent = $true } }
  function Sig {
    $s = Get-MpComputerStatus
    [pscustomobject]@{ version = "$($s.AntivirusSignatureVersion)"; updated = Iso $s.AntivirusSignatureLastUpdated; age_s = Age $s.AntivirusSignatureLastUpdated; enabled = [bool]$s.AntivirusEnabled }
  }
  $before = Sig
  if (-not $Params.update) { return [pscustomobject]@{ before = $before } }
  $method = 'Update-MpSignature'
  $first = $null
  try { Update-MpSignature -ErrorAction Stop }
  catch {
    $first = "$($_.Exception.Message)"
    $method = 'MpCmdRun -SignatureUpdate'
    $exe = Join-Path $env:ProgramFiles 'Windows Defender\MpCmdRun.exe'
    $ErrorActionPreference = 'Continue'
    $out = @(& $exe -SignatureUpdate 2>&1 | ForEach-Object { "$_" })
    $ErrorActionPreference = 'Stop'
    if ($LASTEXITCODE -ne 0) { throw "Update-MpSignature: $first; MpCmdRun -SignatureUpdate: exit $LASTEXITCODE $(($out | Select-Object -Last 2) -join ' ')" }
  }
  [pscustomobject]@{ before = $before; after = (Sig); method = $method; first_error = $first }
""")


def _age(sig: Any) -> str:
    if not isinstance(sig, dict) or sig.get("age_s") is None:
        return "signature age unknown"
    return f"signatures {float(sig['age_s']) / 86400:.1f} days old (version {sig.get('version')})"


def _defender(call: ModuleCall) -> TaskResult:
    def body() -> TaskResult:
        got = run_script(call, "win_defender_update", {"update": not call.check},
                         audit="read" if call.check else "update signatures", timeout=900)
        if got.get("absent"):
            return TaskResult("skipped", "Microsoft Defender is not available here (no Get-MpComputerStatus: "
                              "another antivirus, or a Server without the feature)", {"available": False})
        before = got.get("before") or {}
        data: dict[str, Any] = {"age_days_before": _days(before), "version_before": before.get("version")}
        if call.check:
            return TaskResult("skipped", f"skipped in check mode: only the update server knows what is new; "
                              f"{_age(before)}", {**data, "check_mode": True})
        after = got.get("after") or {}
        data.update(age_days_after=_days(after), version_after=after.get("version"), method=got.get("method"),
                    first_error=got.get("first_error"))
        if (after.get("version"), after.get("updated")) == (before.get("version"), before.get("updated")):
            return TaskResult("ok", f"signatures are current ({got.get('method')}): {_age(after)}", data)
        return TaskResult("changed", f"signatures updated ({got.get('method')}): {_age(before)} -> {_age(after)}", data)
    return guarded("win_defender_update", call, body)


def _days(sig: dict[str, Any]) -> float | None:
    return round(float(sig["age_s"]) / 86400, 2) if sig.get("age_s") is not None else None


register(ModuleSpec(
    "win_defender_update", "windows", (),
    "skip", _defender, "update Microsoft Defender signatures (Update-MpSignature, else MpCmdRun); age before/after",
))


# ---------------------------------------------------------------- win_optimize_volume

module_script("win_optimize_volume", r"""
  $vols = @(Get-Volume | Where-Object { $_.DriveLetter -and "$($_.DriveType)" -eq 'Fixed' })
  $found = @(foreach ($v in $vols) {
    $l = "$($v.DriveLetter)"
    if (@($Params.letters).Count -gt 0 -and @($Params.letters) -notcontains $l) { continue }
    $media = 'Unspecified'
    try {
      $disk = Get-Partition -DriveLetter $l | Get-Disk
      $pd = @(Get-PhysicalDisk | Where-Object { "$($_.DeviceId)" -eq "$($disk.Number)" })
      if ($pd.Count -gt 0) { $media = "$($pd[0].MediaType)" }
    } catch { }
    [pscustomobject]@{ letter = $l; label = "$($v.FileSystemLabel)"; fs = "$($v.FileSystemType)"; media = $media }
  })
  $done = @(foreach ($a in @($Params.ops)) {
    $res = [ordered]@{ letter = $a.letter; op = $a.op; ok = $true; error = $null; lines = @() }
    try {
      if ($a.op -eq 'retrim') { $res.lines = @(Optimize-Volume -DriveLetter $a.letter -ReTrim -Verbose 4>&1 | ForEach-Object { "$_" }) }
      else { $res.lines = @(Optimize-Volume -DriveLetter $a.letter -Defrag -Verbose 4>&1 | ForEach-Object { "$_" }) }
    } catch { $res.ok = $false; $res.error = "$($_.Exception.Message)" }
    [pscustomobject]$res
  })
  [pscustomobject]@{ volumes = $found; done = $done }
""")

MEDIA_OPS = {"SSD": "retrim", "HDD": "defrag"}


def optimize_plan(volumes: list[dict[str, Any]], unspecified: str) -> tuple[list[dict[str, str]], list[str]]:
    """(the operation per volume, the volumes left out with why) from their media types."""
    ops, left = [], []
    for v in volumes:
        media = str(v.get("media") or "Unspecified")
        op = MEDIA_OPS.get(media) or (unspecified if unspecified != "skip" else None)
        if op is None:
            left.append(f"{v.get('letter')}: (media type {media}: set unspecified_media)")
        else:
            ops.append({"letter": str(v.get("letter")), "op": op, "media": media})
    return ops, left


def _optimize(call: ModuleCall) -> TaskResult:
    args = call.args

    def body() -> TaskResult:
        letters = [x.rstrip(":\\").upper() for x in args["drive_letters"] or []]
        got = run_script(call, "win_optimize_volume", {"letters": letters, "ops": []}, audit="read the volumes")
        volumes = dicts(got.get("volumes"))
        missing = sorted(set(letters) - {str(v.get("letter")) for v in volumes})
        if missing:
            return TaskResult("failed", f"no fixed volume {', '.join(m + ':' for m in missing)} on the host")
        ops, left = optimize_plan(volumes, args["unspecified_media"])
        shown = ", ".join(f"{o['op']} {o['letter']}: ({o['media']})" for o in ops)
        data: dict[str, Any] = {"volumes": volumes, "operations": ops, "left_out": left}
        tail = f"; left out: {', '.join(left)}" if left else ""
        if not ops:
            return TaskResult("skipped", f"no volume to optimize{tail}", data)
        if call.check:
            return TaskResult("changed", f"would {shown}{tail} (check mode)", {**data, "check_mode": True})
        run = run_script(call, "win_optimize_volume", {"letters": letters, "ops": ops}, audit=shown, timeout=7200)
        done = dicts(run.get("done"))
        data["results"] = [{**d, "lines": strings(d.get("lines"))} for d in done]
        bad = [f"{d.get('op')} {d.get('letter')}: {d.get('error')}" for d in done if not d.get("ok")]
        if bad:
            return TaskResult("failed", "; ".join(bad)[:300], data)
        return TaskResult("changed", f"{shown}{tail}", data)
    return guarded("win_optimize_volume", call, body)


def _optimize_rules(args: dict) -> None:
    for x in args["drive_letters"] or []:
        if not re.fullmatch(r"[A-Za-z]:?\\?", x):
            raise ArgProblem("drive_letters", f"got {x!r}", "expected drive letters like C or D:")


register(ModuleSpec(
    "win_optimize_volume", "windows",
    (Arg("drive_letters", "list", aliases=("drive_letter",), help="the volumes (default: every fixed volume)"),
     Arg("unspecified_media", choices=("skip", "retrim", "defrag"), default="skip",
         help="what to do on a disk whose media type is Unspecified (many VMs)")),
    "plan", _optimize, "ReTrim SSD volumes and defragment HDD ones, by the disk's media type",
    validate=_optimize_rules,
))
