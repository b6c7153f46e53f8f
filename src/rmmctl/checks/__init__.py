"""Checks: pure rules over probe facts that return findings (docs/diagnose.md, docs/architecture.md)."""

from rmmctl.checks.base import Finding, Severity, Thresholds, worst_status

__all__ = ["Finding", "Severity", "Thresholds", "worst_status"]
