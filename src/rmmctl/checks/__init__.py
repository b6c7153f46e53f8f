"""Checks: pure rules over probe facts that return findings (DESIGN.md section 6)."""

from rmmctl.checks.base import Finding, Severity, Thresholds, worst_status

__all__ = ["Finding", "Severity", "Thresholds", "worst_status"]
