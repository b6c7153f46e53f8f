"""The Windows probe script: the requested sections' .ps1 bodies behind one runner, and its framed output.

The script (PowerShell 5.1-safe, sent over stdin by the WinRM transport, so no command-line limit)::

    # rmmctl-probe: windows@1 nonce=N sections=os,cpu
    $rmmNonce = 'N'; $rmmParams = '<one line of JSON>'      (here-strings: data, never code)
    $rmmPrelude = @' ...ps/_prelude.ps1... '@
    $rmmSections = [ordered]@{}; $rmmSections['os'] = @(BUDGET_S, @' ...ps/os.ps1... '@)
    ...ps/_runner.ps1...      each section in its own runspace, all at once, each within its budget

Every section prints one line `RMMCTL <nonce> <section> <base64 of UTF-8 JSON>` holding
`{"ok": true, "data": ...}` or `{"ok": false, "error": "...", "timeout": true?}`; base64 of UTF-8 is immune
to the console code page, and any other output (a profile's noise, Write-Host) is ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

PROBE_MARK = "# rmmctl-probe: windows@1"
SECTION_MARK = re.compile(r"^# rmmctl-probe: ([a-z_]+)@(\d+)$", re.MULTILINE)
FRAME = re.compile(r"^RMMCTL (\S+) ([a-z_]+) ([A-Za-z0-9+/=]*)\r?$", re.MULTILINE)
DEFAULT_BUDGET_S = 10.0
BUDGETS_S: dict[str, float] = {"updates": 45.0, "time": 12.0, "printers": 15.0, "logs": 20.0}
"""Per-section time budgets, from the script's start (sections run at once): a hung WMI query costs
its section, never the host's deadline."""
MIN_BUDGET_S = 1.0


def new_nonce() -> str:
    return secrets.token_hex(8)


@cache
def ps_file(name: str) -> str:
    """The text of ps/NAME (package data), with LF line ends."""
    return resources.files(__package__).joinpath("ps", name).read_text(encoding="utf-8").replace("\r\n", "\n")


def section_script(name: str) -> str:
    """The body of one section (ps/NAME.ps1); its first line is `# rmmctl-probe: NAME@VERSION`."""
    return ps_file(f"{name}.ps1")


def budgets(sections: Sequence[str], remaining_s: float | None) -> dict[str, float]:
    """Each section's budget, never past the host's remaining deadline (less a margin for the reply)."""
    cap = None if remaining_s is None else max(MIN_BUDGET_S, remaining_s - 2.0)
    return {s: BUDGETS_S.get(s, DEFAULT_BUDGET_S) if cap is None else min(cap, BUDGETS_S.get(s, DEFAULT_BUDGET_S))
            for s in sections}


def _here(text: str) -> str:
    """A single-quoted here-string: PowerShell expands nothing in it; it ends only at a line `'@`."""
    if re.search(r"^'@", text, re.MULTILINE):
        raise ValueError("a probe script line may not start with '@")
    return "@'\n" + text.rstrip("\n") + "\n'@"


def build_script(sections: Sequence[str], *, nonce: str, params: Mapping[str, Any],
                 budget_s: Mapping[str, float]) -> str:
    """The whole probe for these sections; `params` become `$P` in every section (JSON, so data only)."""
    doc = json.dumps(dict(params), ensure_ascii=True, separators=(",", ":"))
    parts = [
        f"{PROBE_MARK} nonce={nonce} sections={','.join(sections)}",
        f"$rmmNonce = '{nonce}'",
        f"$rmmParams = {_here(doc)}",
        f"$rmmPrelude = {_here(ps_file('_prelude.ps1'))}",
        "$rmmSections = [ordered]@{}",
    ]
    for name in sections:
        parts.append(f"$rmmSections['{name}'] = @({budget_s[name]:g}, {_here(section_script(name))})")
    parts.append(ps_file("_runner.ps1"))
    return "\n".join(parts) + "\n"


@dataclass(frozen=True)
class Frame:
    """One section's answer: ok with data, or not ok with the host's one-line error (timeout: budget passed)."""

    ok: bool
    data: Any = None
    error: str | None = None
    timeout: bool = False


def split_frames(stdout: str, nonce: str) -> dict[str, Frame | str]:
    """Section -> its Frame, or a one-line reason when its frame could not be decoded."""
    out: dict[str, Frame | str] = {}
    for m in FRAME.finditer(stdout):
        if m.group(1) != nonce:
            continue
        name = m.group(2)
        try:
            doc = json.loads(base64.b64decode(m.group(3), validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            out[name] = f"{name}: unreadable frame ({type(exc).__name__})"
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
            out[name] = f"{name}: frame without an ok flag"
        elif doc["ok"]:
            out[name] = Frame(True, doc.get("data"))
        else:
            out[name] = Frame(False, error=" ".join(str(doc.get("error") or "failed").split()),
                              timeout=bool(doc.get("timeout")))
    return out
