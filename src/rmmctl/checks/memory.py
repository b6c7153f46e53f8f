"""Memory checks: RAM and swap use against thresholds. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, level, section


def memory_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    mem = section(facts, "memory")
    if not mem:
        return
    sev = level(mem.get("used_pct"), t["mem_warn_pct"], t["mem_crit_pct"])
    if sev:
        yield Finding("memory.pressure", sev, f"memory is {mem['used_pct']}% used",
                      (f"{mem['available_kb']} KiB available of {mem['total_kb']} KiB",),
                      "find the biggest processes (`rmmctl metrics HOST`) and restart or resize")


def swap_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    mem = section(facts, "memory")
    if not mem:
        return
    ssev = level(mem.get("swap_used_pct"), t["swap_warn_pct"], t["swap_crit_pct"])
    if ssev and (section(facts, "os") or {}).get("family") == "windows":  # swap is the page files there
        yield Finding("memory.swap", ssev, f"the page file is {mem['swap_used_pct']}% used",
                      (f"{mem['swap_used_kb']} KiB of {mem['swap_total_kb']} KiB of page file in use "
                       "(Win32_PageFileUsage)",),
                      "the host is short of RAM: find the processes using it (`rmmctl metrics HOST`), add memory, "
                      "or let Windows manage the page file size (System Properties, Advanced, Virtual memory)")
    elif ssev:
        yield Finding("memory.swap", ssev, f"swap is {mem['swap_used_pct']}% used",
                      (f"{mem['swap_used_kb']} KiB of {mem['swap_total_kb']} KiB swap in use",),
                      "the host is short of RAM: find the processes using it, or add memory")


PRESSURE = RuleCheck("memory.pressure", "memory nearly exhausted", ("memory",), memory_rule,
                     {"mem_warn_pct": 90.0, "mem_crit_pct": 97.0})
SWAP = RuleCheck("memory.swap", "heavy swap use", ("memory",), swap_rule,
                 {"swap_warn_pct": 80.0, "swap_crit_pct": 95.0})
