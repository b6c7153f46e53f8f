"""What the printer checks share: the printers section, its Windows part, a queue's jobs, held jobs and the
`printer_models` var (checks.printers for CUPS and the rule table, checks.printers_windows for Windows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.facts import section

_HELD = ("job-hold-until-specified", "job-held-by-user", "job-hold-until-resources")


def printers_section(facts: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return section(facts, "printers")


def windows_part(facts: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Windows detail of the printers section (None on CUPS hosts)."""
    cups = printers_section(facts)
    return cups.get("windows") if cups else None


def jobs_of(facts: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return [j for j in (printers_section(facts) or {}).get("jobs") or [] if j.get("printer") == name]


def held_job(job: Mapping[str, Any]) -> bool:
    """A job someone held on purpose (never stuck, never cancelled by the printer module)."""
    return job.get("state") == "pending-held" or any(r in _HELD for r in job.get("reasons") or ())


def expected_models(hv: Mapping[str, Any]) -> dict[str, str]:
    """The `printer_models` inventory var ({QUEUE: "model substring"}), checked."""
    value = hv.get("printer_models") or {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"vars.printer_models must map queue names to model text (QUEUE: \"HP LaserJet\"), "
                          f"got {value!r}")
    return dict(value)
