"""Windows `win_command`, `win_shell` and `win_copy` (Ansible's argument names), each one script per task.

`win_command` runs a program (never through a shell): its argv goes as JSON data, the program is found
with Get-Command (an application, not a cmdlet) and started with System.Diagnostics.Process; the argument
line is quoted by the MS C runtime rules (subprocess.list2cmdline: what CommandLineToArgvW splits back),
so a word holding spaces, quotes, `$(...)` or `;` reaches the program as that one word. `win_shell` hands
its string to PowerShell (it is code by design). `creates`/`removes` are tested on the host first, in the
same script. `win_copy` sends the content (base64, after the JSON line: `$Payload`) with its sha256: the script writes only if the file's
hash differs (a temp file beside it, then Move-Item), so one round trip; check mode sends only the hash.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path
from typing import Any

from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.win_common import bad_path, guarded, module_script, run_script

MAX_FILE_BYTES = 8 * 1024 * 1024

_GATE = r"""
  if ($Params.creates -and (Test-Path -LiteralPath $Params.creates)) { return [pscustomobject]@{ ran = $false; why = 'creates' } }
  if ($Params.removes -and -not (Test-Path -LiteralPath $Params.removes)) { return [pscustomobject]@{ ran = $false; why = 'removes' } }
  if ($Params.check) { return [pscustomobject]@{ ran = $false; why = 'check' } }
  if ($Params.chdir) { Set-Location -LiteralPath $Params.chdir }
"""

module_script("win_command", _GATE + r"""
  $app = @(Get-Command -Name $Params.exe -CommandType Application -ErrorAction SilentlyContinue)
  if ($app.Count -eq 0) { throw "no program $($Params.exe) (not found on PATH)" }
  $si = New-Object Diagnostics.ProcessStartInfo
  $si.FileName = $app[0].Path
  $si.Arguments = [string]$Params.args
  $si.UseShellExecute = $false
  $si.RedirectStandardOutput = $true
  $si.RedirectStandardError = $true
  $si.CreateNoWindow = $true
  $si.WorkingDirectory = (Get-Location).Path
  $proc = [Diagnostics.Process]::Start($si)
  $so = $proc.StandardOutput.ReadToEndAsync()
  $se = $proc.StandardError.ReadToEndAsync()
  $proc.WaitForExit()
  [pscustomobject]@{ ran = $true; rc = $proc.ExitCode; stdout = $so.Result; stderr = $se.Result }
""")

module_script("win_shell", _GATE + r"""
  $sb = [ScriptBlock]::Create([string]$Params.cmd)
  $global:LASTEXITCODE = 0
  $out = New-Object Collections.ArrayList
  $err = New-Object Collections.ArrayList
  $rc = 0
  try {
    $ErrorActionPreference = 'Continue'
    & $sb 2>&1 | ForEach-Object {
      if ($_ -is [Management.Automation.ErrorRecord]) { [void]$err.Add("$_") } else { [void]$out.Add("$_") }
    }
    $rc = [int]$LASTEXITCODE
  } catch { [void]$err.Add("$($_.Exception.Message)"); $rc = 1 }
  [pscustomobject]@{ ran = $true; rc = $rc; stdout = (@($out) -join "`r`n"); stderr = (@($err) -join "`r`n") }
""")

module_script("win_copy", r"""
  $dest = [string]$Params.dest
  $old = $null
  if (Test-Path -LiteralPath $dest -PathType Leaf) { $old = (Get-FileHash -LiteralPath $dest -Algorithm SHA256).Hash.ToLower() }
  elseif (Test-Path -LiteralPath $dest) { throw "$dest is a folder" }
  if ($old -eq $Params.sha256 -or $Params.check) { return [pscustomobject]@{ sha256_before = $old; written = $false } }
  $dir = Split-Path -Parent $dest
  if ($dir -and -not (Test-Path -LiteralPath $dir)) { [void](New-Item -ItemType Directory -Path $dir -Force) }
  $tmp = "$dest.rmmctl-tmp"
  [IO.File]::WriteAllBytes($tmp, [Convert]::FromBase64String($Payload.Trim()))
  Move-Item -LiteralPath $tmp -Destination $dest -Force
  $new = (Get-FileHash -LiteralPath $dest -Algorithm SHA256).Hash.ToLower()
  [pscustomobject]@{ sha256_before = $old; sha256_after = $new; written = $true }
""")


def _gate(args: dict[str, Any], check: bool) -> dict[str, Any]:
    return {"creates": args["creates"], "removes": args["removes"], "chdir": args["chdir"], "check": check}


def _outcome(name: str, call: ModuleCall, data: dict[str, Any], shown: str) -> TaskResult:
    if not data.get("ran"):
        why = data.get("why")
        if why == "check":
            return TaskResult("skipped", f"skipped in check mode: {name} cannot tell what it would change",
                              {"cmd": shown})
        path = call.args[why]
        text = f"skipped: {path} exists (creates)" if why == "creates" else f"skipped: {path} does not exist (removes)"
        return TaskResult("ok", text, {"cmd": shown, "rc": None})
    rc = int(data.get("rc") or 0)
    out, err = str(data.get("stdout") or ""), str(data.get("stderr") or "")
    result = {"cmd": shown, "rc": rc, "stdout": out, "stderr": err, "stdout_lines": out.splitlines()}
    if rc != 0:
        last = (err.strip() or out.strip()).splitlines()[-1:] or [""]
        return TaskResult("failed", f"rc={rc}: {last[0][:200]}", result)
    return TaskResult("changed", (out.strip().splitlines()[:1] or [""])[0][:200], result)


def split_program(cmd: str) -> tuple[str, str]:
    """A Windows command line as (program, the rest as written): the program is its first word (in double
    quotes when it holds spaces), the rest goes to the program unchanged, as CreateProcess passes it."""
    text = cmd.strip()
    if text.startswith('"'):
        end = text.find('"', 1)
        if end < 0:
            return text[1:], ""
        return text[1:end], text[end + 1:].strip()
    exe, _, rest = text.partition(" ")
    return exe, rest.strip()


def _win_command(call: ModuleCall) -> TaskResult:
    args = call.args
    if args["argv"] is not None:
        exe, line = (args["argv"] or [""])[0], subprocess.list2cmdline(args["argv"][1:])
        shown = call.ctx.redact(subprocess.list2cmdline(args["argv"]))
    else:
        exe, line = split_program(args["cmd"] or "")
        shown = call.ctx.redact((args["cmd"] or "").strip())
    if not exe:
        return TaskResult("failed", "win_command: nothing to run (cmd is empty)")
    params = {"exe": exe, "args": line, **_gate(args, call.check)}
    return guarded("win_command", call, lambda: _outcome(
        "a command", call, run_script(call, "win_command", params, audit=shown), shown))


def _win_shell(call: ModuleCall) -> TaskResult:
    args = call.args
    shown = call.ctx.redact(args["cmd"])
    params = {"cmd": args["cmd"], **_gate(args, call.check)}
    return guarded("win_shell", call, lambda: _outcome(
        "a PowerShell command", call, run_script(call, "win_shell", params, audit=shown[:200]), shown))


def _command_rules(args: dict) -> None:
    if (args["cmd"] is None) == (args["argv"] is None):
        raise ArgProblem("cmd", "give the command as a string (or cmd) or as argv, exactly one",
                         "expected e.g. `win_command: ipconfig /all` or `win_command: {argv: [ipconfig, /all]}`")
    _path_rules(args)


def _path_rules(args: dict) -> None:
    for key in ("creates", "removes", "chdir"):
        if args.get(key) is not None and bad_path(str(args[key])):
            raise ArgProblem(key, f"got {args[key]!r}", "expected an absolute Windows path like C:\\ProgramData\\x")


_GATE_ARGS = (Arg("chdir", help="run in this folder"),
              Arg("creates", help="a path: when it exists, the command does not run (ok)"),
              Arg("removes", help="a path: when it does not exist, the command does not run (ok)"))

register(ModuleSpec(
    "win_command", "windows",
    (Arg("cmd", help="the program and its arguments as a Windows command line (passed on as written)"),
     Arg("argv", "list", help="the words, already split"), *_GATE_ARGS),
    "skip", _win_command, "run a Windows program with arguments (never through a shell)", free_form="cmd",
    validate=_command_rules,
))
register(ModuleSpec(
    "win_shell", "windows",
    (Arg("cmd", required=True, help="PowerShell code"), *_GATE_ARGS),
    "skip", _win_shell, "run PowerShell code", free_form="cmd", validate=_path_rules,
))


# ---------------------------------------------------------------- win_copy

def _content(call: ModuleCall) -> bytes:
    args = call.args
    if args["content"] is not None:
        return str(args["content"]).encode("utf-8")
    path = Path(args["src"])
    if not path.is_absolute():
        path = call.base_dir / path
    if path.stat().st_size > MAX_FILE_BYTES:
        raise OSError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    return path.read_bytes()


def _win_copy(call: ModuleCall) -> TaskResult:
    args = call.args
    dest = args["dest"]
    try:
        content = _content(call)
    except OSError as exc:
        return TaskResult("failed", f"win_copy: cannot read src: {exc}")
    digest = hashlib.sha256(content).hexdigest()
    data: dict[str, Any] = {"dest": dest, "sha256": digest, "size": len(content)}

    def body() -> TaskResult:
        params = {"dest": dest, "sha256": digest, "check": call.check}
        got = run_script(call, "win_copy", params, audit=f"{dest} ({len(content)} bytes)",
                         payload=None if call.check else base64.b64encode(content).decode())
        before = got.get("sha256_before")
        data["sha256_before"] = before
        if before == digest:
            return TaskResult("ok", f"{dest} is as wanted", data)
        verb = "create" if before is None else "replace"
        if call.check:
            return TaskResult("changed", f"would {verb} {dest} ({len(content)} bytes; check mode)",
                              {**data, "check_mode": True})
        if got.get("sha256_after") != digest:
            return TaskResult("failed", f"{dest}: the written file's sha256 is {got.get('sha256_after')}, "
                              f"not {digest}", data)
        return TaskResult("changed", f"{verb}d {dest} ({len(content)} bytes)", data)
    return guarded("win_copy", call, body)


def _copy_rules(args: dict) -> None:
    if (args["content"] is None) == (args["src"] is None):
        raise ArgProblem("content", "give content or src, exactly one", "expected e.g. `content: hello`")
    if bad_path(str(args["dest"])):
        raise ArgProblem("dest", f"got {args['dest']!r}", "expected an absolute Windows path like C:\\ProgramData\\x.txt")


register(ModuleSpec(
    "win_copy", "windows",
    (Arg("dest", required=True, help="an absolute path on the host (its folder is created if missing)"),
     Arg("content", help="the file's text (UTF-8)"), Arg("src", help="a local file (relative: to the playbook)")),
    "plan", _win_copy, "put a file on a Windows host (changed only if its sha256 differs)", validate=_copy_rules,
))
