"""The built-in checks, in the order `rmmctl diagnose` reports them, and the one registry.

One module per check-id group (the id's part before the first dot): disk, memory, cpu, services,
updates, reboot, time, probe, printers, logs, backup, av.
"""

from __future__ import annotations

from rmmctl.checks import av, backup, cpu, disk, logs, memory, printers, probe, reboot, services, updates
from rmmctl.checks import time as time_checks
from rmmctl.checks.registry import GROUP, Registry

BUILTIN_CHECKS = (
    disk.SPACE, disk.INODES, memory.PRESSURE, memory.SWAP, cpu.LOAD, services.FAILED, updates.SECURITY,
    reboot.REQUIRED, time_checks.SKEW, probe.INCOMPLETE,
    *printers.PRINTER_CHECKS,
    disk.READONLY, updates.PENDING, updates.STALE_LISTS, updates.FAILING, time_checks.UNSYNCHRONIZED,
    *logs.LOG_CHECKS,
    backup.FRESHNESS, av.CLAMAV_AGE, av.DEFENDER_OFF, av.DEFENDER_AGE,
)

CHECKS = Registry(GROUP, builtins=BUILTIN_CHECKS)
