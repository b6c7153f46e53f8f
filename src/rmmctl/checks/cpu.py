"""CPU checks: the 5-minute load per CPU against thresholds. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, level, section


def load_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    up, cpu = section(facts, "uptime"), section(facts, "cpu")
    if not up or not cpu or not cpu.get("count") or up.get("load5") is None:  # no load averages (Windows)
        return
    per_cpu = round(float(up["load5"]) / int(cpu["count"]), 2)
    sev = level(per_cpu, t["load_warn_per_cpu"], t["load_crit_per_cpu"])
    if sev:
        yield Finding("cpu.load", sev, f"5-minute load is {per_cpu} per CPU",
                      (f"load average {up['load1']} {up['load5']} {up['load15']} on {cpu['count']} CPUs",),
                      "find the busy processes (`rmmctl metrics HOST`); sustained load slows every service")


LOAD = RuleCheck("cpu.load", "sustained load per CPU", ("uptime", "cpu"), load_rule,
                 {"load_warn_per_cpu": 2.0, "load_crit_per_cpu": 4.0})
