"""Windows hosts for tests and benchmarks: one WS-Management double per host on 127.0.0.1 (its own port),
each answering rmmctl's probes from the PowerShell 5.1 fixtures (winrm_double.probes.ProbeHost).

    with WinFleet(3, cases={"win-02": {"printers": "stuck_queue"}}) as wf:
        inv = add_to_inventory(fleet.write_inventory(path, [1, 2]), wf)   # a mixed Linux + Windows inventory

`stop()` asserts what every test must: no shell left open on any host, no script the double did not know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from winrm_double import FakeWinRM, Invocation, Result
from winrm_double.modules import WinHost
from winrm_double.probes import ProbeHost

PASSWORD_ENV = "RMMCTL_TEST_WINRM_PW"
PASSWORD = "s3cret"


def everyday_powershell(inv: Invocation) -> Result:
    """What every Windows host answers besides the probe: rmmctl ping's script, doctor winrm's command and the
    lines the docs run.
    Anything else raises (the double records it as a script it does not know)."""
    script = inv.script
    if script.startswith("'rmmctl-ping'"):
        return Result(stdout="rmmctl-ping\r\nACME\\rmm\r\nWIN-ACC01\r\n")
    if "$PSVersionTable.PSVersion" in script and "Get-ExecutionPolicy" in script:
        return Result(stdout="psversion=5.1.19041.4648\r\nexecutionpolicy=RemoteSigned\r\n"
                             "maxmemorypershellmb=2147483647\r\n")
    if script == "& 'Get-Service' 'Spooler'":
        return Result(stdout="\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\n"
                             "Running  Spooler            Print Spooler\r\n\r\n")
    if script == "Get-Service":  # docs/shell.md: a line of `rmmctl shell print01` from stdin
        return Result(stdout="\r\nStatus   Name               DisplayName\r\n------   ----               -----------\r\n"
                             "Running  Dnscache           DNS Client\r\nRunning  Spooler            Print Spooler\r\n"
                             "Stopped  wuauserv           Windows Update\r\n\r\n")
    if not script and inv.command_line == "ipconfig /all":  # a --cmd line
        return Result(stdout="\r\nWindows IP Configuration\r\n\r\n   Host Name . . . . . . . . . . . . : WIN-ACC01\r\n")
    raise LookupError(script[:200] or inv.command_line[:200])


class WinFleet:
    def __init__(self, n: int = 0, *, prefix: str = "win", names: list[str] | None = None,
                 cases: Mapping[str, Mapping[str, str]] | None = None,
                 other: Callable[[Invocation], Result] | None = None, latency_s: float = 0.0,
                 auth: str = "basic", user: str = "rmm") -> None:
        self.names = list(names) if names else [f"{prefix}-{i:02d}" for i in range(1, n + 1)]
        self.auth = auth
        # each host: the probes from fixtures, the win_* modules on an emulated host (winrm_double.modules),
        # then ping / doctor's command; anything else is a script the double does not know
        self.hosts = {name: WinHost(other=other or _known(self, name)) for name in self.names}
        self.probes = {name: ProbeHost((cases or {}).get(name), other=self.hosts[name]) for name in self.names}
        self.doubles = {name: FakeWinRM(self.probes[name], user=user, password=PASSWORD, latency_s=latency_s,
                                      auth=auth)
                        for name in self.names}

    def __enter__(self) -> WinFleet:  # noqa: PYI034
        for srv in self.doubles.values():
            srv.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for srv in self.doubles.values():
            srv.__exit__()

    def check_clean(self) -> None:
        """No shell left open anywhere, no unknown script received."""
        open_shells = {n: list(s.shells) for n, s in self.doubles.items() if s.shells}
        unknown = {n: p.unknown + self.hosts[n].unknown for n, p in self.probes.items()
                   if p.unknown or self.hosts[n].unknown}
        assert not open_shells, f"shells left open: {open_shells}"
        assert not unknown, f"scripts the double does not know: {unknown}"

    def host_entries(self, **extra_vars: Any) -> dict[str, dict[str, Any]]:
        """Inventory host entries (connection winrm, Basic over HTTP on loopback: the double's settings)."""
        return {
            name: {"address": "127.0.0.1", "port": srv.port, "connection": "winrm", "os": "windows", "user": "rmm",
                   "password_env": PASSWORD_ENV,
                   "vars": {"winrm_transport": "basic", "winrm_scheme": "http", "winrm_allow_basic_http": True,
                            **extra_vars}}
            for name, srv in self.doubles.items()
        }


def _known(wf: WinFleet, name: str) -> Callable[[Invocation], Result]:
    def answer(inv: Invocation) -> Result:
        try:
            return everyday_powershell(inv)
        except LookupError:
            wf.probes[name].unknown.append((inv.script or inv.command_line)[:300])
            return Result(stderr="the double does not know this script", rc=1)
    return answer


def add_to_inventory(path: Path, wf: WinFleet, **extra_vars: Any) -> Path:
    """Add the Windows hosts to an inventory file (e.g. one Fleet.write_inventory wrote); returns the path."""
    path = Path(path)
    doc = yaml.safe_load(path.read_text()) if path.exists() else {}
    doc = doc or {}
    doc.setdefault("hosts", {}).update(wf.host_entries(**extra_vars))
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def windows_inventory(path: Path, wf: WinFleet, **extra_vars: Any) -> Path:
    """An inventory of only the Windows hosts."""
    path = Path(path)
    path.write_text(yaml.safe_dump({"hosts": wf.host_entries(**extra_vars)}, sort_keys=False))
    return path
