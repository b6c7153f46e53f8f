"""What every Windows module shares: one PowerShell 5.1 script per module, its parameters as JSON data.

A module script starts with its header line `# rmmctl-module: NAME@1` (the test double recognises it),
then a fixed prelude that reads the parameters from stdin (`$Params`, one JSON document on the first line:
the WinRM transport pipes stdin into the script; the rest, if any, is `$Payload`), the module's body (a script block returning ONE object) and a runner that
prints the result behind a marker line as base64 of UTF-8 JSON:

    RMMCTL-MODULE <base64 of {"ok": true, "data": ...} or {"ok": false, "error": "..."}>

Nothing templated is ever interpolated into PowerShell code: every value a task gives travels in the JSON
on stdin and is read as a string (`$Params.name`), so a `$(...)` or `;` in it stays data. PS 5.1 rules: dates
pre-formatted (`Iso`), arrays forced with `@(...)`, enums cast to strings, ages computed on the host's clock
(`Age`), no numeric multipliers. The Python side reads the answer through probes.windows.shapes (a one-item
array printed as an object, an empty one as null).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from rmmctl.errors import CommandTimeout
from rmmctl.playbooks.modules import ModuleCall, TaskResult

MARK = "RMMCTL-MODULE "
SCRIPTS: dict[str, str] = {}  # module name -> the exact script it sends (the double and the parser tests read it)

PRELUDE = r"""$ProgressPreference = 'SilentlyContinue'
$ErrorActionPreference = 'Stop'
$RmmIn = @($input) -join "`n"
$Payload = ''
$RmmAt = $RmmIn.IndexOf("`n")
if ($RmmAt -ge 0) { $Payload = $RmmIn.Substring($RmmAt + 1); $RmmIn = $RmmIn.Substring(0, $RmmAt) }
$Params = $RmmIn | ConvertFrom-Json
function Iso($d) { if ($d) { ([datetime]$d).ToUniversalTime().ToString('o') } }
function Age($d) { if ($d) { [long]((Get-Date) - [datetime]$d).TotalSeconds } }
function Out-Rmm($o) {
  $j = ConvertTo-Json -InputObject $o -Depth 8 -Compress
  'RMMCTL-MODULE ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($j))
}
"""

RUNNER = r"""
try { $r = & $Body; Out-Rmm ([ordered]@{ ok = $true; data = $r }); exit 0 }
catch {
  Out-Rmm ([ordered]@{ ok = $false; error = "$($_.Exception.Message)"; line = "$($_.InvocationInfo.ScriptLineNumber)" })
  exit 1
}
"""


class WinFailed(Exception):
    """The module's one-line failure (the script's error, or an answer that cannot be read)."""


def module_script(name: str, body: str) -> str:
    """The full script of module `name` around its body (the statements of `$Body`), registered in SCRIPTS."""
    script = f"# rmmctl-module: {name}@1\n{PRELUDE}$Body = {{\n{body.strip(chr(10))}\n}}\n{RUNNER}"
    SCRIPTS[name] = script
    return script


def parse_answer(stdout: str, stderr: str = "", rc: int = 0) -> dict[str, Any]:
    """The data of the marker line (the last one); WinFailed with the script's error or the output's last line."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith(MARK)]
    if not lines:
        last = (stderr.strip() or stdout.strip()).splitlines()[-1:] or [f"rc={rc}"]
        raise WinFailed(f"no answer from the module script (rc={rc}): {last[0][:200]}")
    try:
        doc = json.loads(base64.b64decode(lines[-1][len(MARK):]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WinFailed(f"unreadable answer from the module script: {exc}") from None
    if not isinstance(doc, dict):
        raise WinFailed("unreadable answer from the module script: not an object")
    if not doc.get("ok"):
        raise WinFailed(str(doc.get("error") or "the module script failed").strip()[:300])
    data = doc.get("data")
    if isinstance(data, list):  # a stray output line before the body's object: the object is the last one
        data = next((d for d in reversed(data) if isinstance(d, dict)), None)
    if not isinstance(data, dict):
        raise WinFailed("unreadable answer from the module script: no result object")
    return data


def truthy(value: Any) -> bool:
    """A template var as a boolean: `-e maintenance_window_open=false` is the string "false"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def run_script(call: ModuleCall, name: str, params: dict[str, Any], *, audit: str = "",
               timeout: float | None = None, payload: str | None = None) -> dict[str, Any]:
    """Run module `name`'s script with `params` as JSON on stdin (its first line: `$Params`) and `payload`
    after it (`$Payload`: bulk data such as a file's base64, kept out of ConvertFrom-Json); its data
    (WinFailed on an error)."""
    stdin = json.dumps(params, ensure_ascii=False)  # one line: json.dumps escapes every newline
    kwargs: dict[str, Any] = {"stdin": stdin if payload is None else f"{stdin}\n{payload}"}
    if timeout is not None and call.timeout is None:
        kwargs["timeout"] = timeout
    shown = f"{name}: {audit}" if audit else name
    result = call.run(SCRIPTS[name], audit_as=shown, **kwargs)
    return parse_answer(result.stdout, result.stderr, result.exit_code)


def guarded(name: str, call: ModuleCall, body: Any) -> TaskResult:
    """`body()` with WinFailed and (with a task timeout) CommandTimeout as failed results."""
    try:
        return body()
    except WinFailed as exc:
        return TaskResult("failed", f"{name}: {exc}"[:300])
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}"[:300])


def dicts(value: Any) -> list[dict[str, Any]]:
    """A PS 5.1 array (an object for one item, null for none) as a list of dicts."""
    from rmmctl.probes.windows.shapes import as_list

    return [v for v in as_list(value) if isinstance(v, dict)]


def strings(value: Any) -> list[str]:
    from rmmctl.probes.windows.shapes import as_list

    return [str(v) for v in as_list(value) if v is not None]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def bad_path(value: str) -> bool:
    """True for a value that is not a plain absolute Windows path (C:\\x or \\\\server\\share\\x)."""
    import re

    return not re.match(r"^(?:[A-Za-z]:\\|\\\\[^\\]+\\)", value) or any(c in value for c in "\0\r\n")
