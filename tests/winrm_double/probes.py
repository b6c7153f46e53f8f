"""The double's PowerShell: rmmctl's Windows probe answered from fixtures, as PowerShell 5.1 prints them.

`ProbeHost(cases)` is a FakeWinRM handler. It recognises the probe by its first line
(`# rmmctl-probe: windows@1 nonce=N sections=a,b`), checks that every section's body is exactly the .ps1
rmmctl ships (a script it does not know fails loudly: recorded in `.unknown`, rc 1), and answers each
section from tests/fixtures/ps/SECTION/CASE:

    CASE.json   the section's data as ConvertTo-Json printed it on PowerShell 5.1 (one-item arrays as
                objects, /Date(ms)/, ints for enums ...), sent verbatim inside the frame {"ok":true,"data":...}
    CASE.fail   the message of an exception the section threw -> {"ok":false,"error":...}
    hang        the section passed its budget -> {"ok":false,"timeout":true,...} (as the runner frames it)
    missing     no frame at all (the script died before it)

A "*" case applies to every section that has a fixture of that name (e.g. {"*": "healthy"}: a host
with nothing wrong), the others stay default. Time tokens in a fixture keep ages fixed relative to now: @EPOCH@, @EPOCH-3600@ (unix seconds),
@MS-3600@ (milliseconds, for /Date(...)/), @ISO-86400@ (ISO 8601 UTC).
Non-probe scripts go to `other(inv)` when given, else count as unknown. `live={"printers": fn}` answers a
section from `fn()` instead (winrm_double.modules.printers_section: the emulated host's state, so a
diagnose after a play sees what the play changed).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rmmctl.probes.windows import bundle

from winrm_double import Invocation, Result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ps"
_TOKEN = re.compile(r"@(EPOCH|MS|ISO)([+-]\d+)?@")
_HEADER = re.compile(r"^# rmmctl-probe: windows@1 nonce=(\w+) sections=([a-z_,]*)$")


def fill_times(raw: str, now: float | None = None) -> str:
    now = time.time() if now is None else now

    def sub(m: re.Match[str]) -> str:
        t = now + int(m.group(2) or 0)
        if m.group(1) == "EPOCH":
            return str(int(t))
        if m.group(1) == "MS":
            return str(int(t * 1000))
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    return _TOKEN.sub(sub, raw)


def fixture(section: str, case: str) -> str:
    """The raw text of a .json fixture, time tokens filled."""
    return fill_times((FIXTURES / section / f"{case}.json").read_text(encoding="utf-8"))


def frame(nonce: str, section: str, doc: str) -> str:
    return f"RMMCTL {nonce} {section} {base64.b64encode(doc.encode('utf-8')).decode()}"


class ProbeHost:
    def __init__(self, cases: Mapping[str, str] | None = None, *,
                 other: Callable[[Invocation], Result] | None = None, noise: str = "",
                 live: Mapping[str, Callable[[], object]] | None = None) -> None:
        self.cases: dict[str, str] = dict(cases or {})
        self.live = dict(live or {})  # section -> its data now (a model's state), instead of a fixture
        self.other = other
        self.noise = noise  # printed before the frames (a profile's output): must be ignored
        self.unknown: list[str] = []
        self.probes: list[list[str]] = []  # the sections of each probe received, in order
        self.params: list[str] = []  # each probe's $rmmParams JSON

    def __call__(self, inv: Invocation) -> Result:
        script = inv.script or inv.encoded
        m = _HEADER.match(script.split("\n", 1)[0])
        if m:
            return self.probe(script, m.group(1), [s for s in m.group(2).split(",") if s])
        if self.other is not None:
            return self.other(inv)
        self.unknown.append(script[:300])
        return Result(stderr="the double does not know this script", rc=1)

    def probe(self, script: str, nonce: str, sections: list[str]) -> Result:
        for name in sections:
            try:
                body = bundle.section_script(name)
            except FileNotFoundError:
                body = None
            if body is None or body.rstrip("\n") not in script:
                self.unknown.append(f"section {name}: not the .ps1 rmmctl ships")
                return Result(stderr=f"the double does not know section {name}", rc=1)
        self.probes.append(sections)
        pm = re.search(r"^\$rmmParams = @'\n(.*)\n'@$", script, re.MULTILINE)
        self.params.append(pm.group(1) if pm else "")
        lines = [self.noise] if self.noise else []
        for name in sections:
            case = self._case(name)
            if name in self.live:
                lines.append(frame(nonce, name, '{"ok":true,"data":' + _json(self.live[name]()) + "}"))
                continue
            if case == "missing":
                continue
            if case == "hang":
                doc = '{"ok":false,"timeout":true,"error":"no answer within 10 s"}'
            elif (FIXTURES / name / f"{case}.fail").exists():
                msg = (FIXTURES / name / f"{case}.fail").read_text(encoding="utf-8").strip()
                doc = '{"ok":false,"error":' + _json_str(msg) + ',"type":"Microsoft.Management.Infrastructure.CimException"}'
            else:
                doc = '{"ok":true,"data":' + fixture(name, case).strip() + "}"
            lines.append(frame(nonce, name, doc))
        return Result(stdout="\r\n".join(lines) + "\r\n", rc=0)


    def _case(self, name: str) -> str:
        """The case of a section: its own, else the "*" case where the section has it, else default."""
        if name in self.cases:
            return self.cases[name]
        every = self.cases.get("*")
        if every and ((FIXTURES / name / f"{every}.json").exists() or (FIXTURES / name / f"{every}.fail").exists()):
            return every
        return "default"


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_str(s: str) -> str:
    import json

    return json.dumps(s)
