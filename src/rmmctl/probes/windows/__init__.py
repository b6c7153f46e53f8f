"""The Windows prober: PowerShell 5.1 probes in one command over the visit's one WinRM shell.

    bundle.py    builds the script (ps/_prelude.ps1, one ps/NAME.ps1 per section, ps/_runner.ps1) and
                 splits its output: one `RMMCTL <nonce> <section> <base64 JSON>` frame per section
    shapes.py    PowerShell 5.1's JSON made regular (one-item arrays, /Date(ms)/, ints for enums)
    prober.py    PROBER: the command, the whole-output check, the parser registry (ParseContext)
    system.py    host, os, uptime, cpu, memory, filesystems, processes, services, time
    security.py  reboot, updates, av (Defender), backup      events.py  logs (the Event Log)
    printers.py  printers (spooler, queues, drivers and their load failures, stuck jobs, spool folder)

Each section runs in its own runspace, all at once, each within its budget (bundle.BUDGETS_S): a hung WMI
query or a throwing cmdlet makes its section `{"unavailable": reason}`, never a failed host.

To add a section: ps/NAME.ps1 (first line `# rmmctl-probe: NAME@1`, ends with ONE object, dates through
`Iso`, arrays forced with `@(...)`), a parser `@parser("NAME")` in one of the modules above, fixtures
under tests/fixtures/ps/NAME/ in the shape PowerShell 5.1 prints, and its keys in docs/facts.md.
"""

from __future__ import annotations

from rmmctl.probes.windows.prober import PROBER, PARSERS, WindowsProber, parse_output  # noqa: F401
