"""The Linux prober: one POSIX sh script per host in one exec (`sh -c SCRIPT`), pure parsers to Facts.

    bundle.py   builds the script from linux.sh (only the requested sections) and splits its framed output
    system.py   time, host, os, uptime, memory, cpu, services   storage.py  filesystems, processes
    logs.py     logs (and the syslog levels)   packages.py  updates, reboot   printers.py  printers
    files.py    backup, av                         prober.py  PROBER: the exec, and the whole-output check

`PROBER.collect(ctx, sections, params)` is what rmmctl.probes.collect() calls for a `linux` host: ::

    nonce = bundle.new_nonce()
    script = bundle.build_script(sections, nonce=nonce, since=since, params=params)
    result = ctx.run(bundle.probe_command(script))         # audited, within the host's deadline
    facts = parse_result(result, nonce, sections, controller_time=started)

To add a section: an `s_NAME` block in linux.sh (`#@ section NAME`), a parser `parse_NAME(body) -> dict`
registered in PARSERS, its TypedDict in rmmctl.facts, fixtures under tests/fixtures/probes/NAME/, and
its keys in docs/facts.md.
"""

from __future__ import annotations

from rmmctl.probes.linux import bundle  # noqa: F401 - rmmctl.probes.linux.bundle, as callers use it
from rmmctl.probes.linux.parse import (  # noqa: F401 - the package's public names
    FAST_SECTIONS,
    PARSERS,
    SECTIONS,
    parse_output,
    parse_section,
)
from rmmctl.probes.linux.prober import PROBER, LinuxProber, parse_result, unreadable_reason  # noqa: F401
