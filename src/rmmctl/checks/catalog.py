"""The built-in checks, in the order `rmmctl diagnose` reports them, and the one registry."""

from __future__ import annotations

from rmmctl.checks.health import HEALTH_CHECKS
from rmmctl.checks.printers import PRINTER_CHECKS
from rmmctl.checks.registry import GROUP, Registry
from rmmctl.checks.system import SYSTEM_CHECKS

BUILTIN_CHECKS = (*HEALTH_CHECKS, *PRINTER_CHECKS, *SYSTEM_CHECKS)

CHECKS = Registry(GROUP, builtins=BUILTIN_CHECKS)
