"""exit_code_for is pure: the worst host outcome wins, with 7 > 6 > 5 > 4 > 0."""

from __future__ import annotations

import pytest

from rmmctl.errors import ExitCode, exit_code_for
from rmmctl.models import HostResult, RunReport, Status


def report(*statuses: str, interrupted: bool = False) -> RunReport:
    hosts = tuple(HostResult(f"h{i}", "127.0.0.1", Status(s)) for i, s in enumerate(statuses))
    return RunReport("test", 0.0, 0.0, hosts, interrupted=interrupted)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), ExitCode.OK),
        (("ok", "changed", "skipped"), ExitCode.OK),
        (("ok", "warn"), ExitCode.WARN),
        (("warn", "crit", "ok"), ExitCode.CRIT),
        (("failed", "warn"), ExitCode.CRIT),
        (("error",), ExitCode.CRIT),
        (("crit", "unreachable"), ExitCode.UNREACHABLE),
        (("timeout", "warn"), ExitCode.UNREACHABLE),
        (("unreachable", "auth_failed", "crit"), ExitCode.AUTH_FAILED),
        (("auth_failed", "ok"), ExitCode.AUTH_FAILED),
    ],
)
def test_worst_outcome_wins(statuses: tuple[str, ...], expected: ExitCode) -> None:
    assert exit_code_for(report(*statuses)) is expected


def test_interrupt_wins_over_everything() -> None:
    assert exit_code_for(report("auth_failed", "interrupted", interrupted=True)) is ExitCode.INTERRUPTED


def test_every_status_has_an_exit_code() -> None:
    for status in Status:
        exit_code_for(report(status.value))  # raises KeyError if a status is unmapped
