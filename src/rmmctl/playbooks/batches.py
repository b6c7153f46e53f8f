"""`serial` and `max_fail_percentage` (pure): cut a play's hosts into batches the way Ansible does, and
say after each batch whether the later ones may run (docs/playbooks.md, "Batches").

The executor (rmmctl.executor.Batching) runs the batches one after another inside one run; this module
only decides. A host counts as failed when a task failed on it or it never answered (failed, error,
unreachable, timeout, auth_failed): unlike Ansible, whose max_fail_percentage leaves unreachable hosts out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from rmmctl.models import Status

if TYPE_CHECKING:
    from rmmctl.inventory.model import Host
    from rmmctl.models import HostResult

FAILED = frozenset({Status.FAILED, Status.ERROR, Status.UNREACHABLE, Status.TIMEOUT, Status.AUTH_FAILED, Status.CRIT})
_PERCENT = re.compile(r"^\s*(\d+)\s*%\s*$")
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")
SERIAL_EXPECTED = "expected a positive number of hosts (2), a percentage of the play's hosts ('25%', 1-100%), " \
                  "or a list of those ([1, 5, '50%']: batch sizes, the last one repeats)"
MAX_FAIL_EXPECTED = "expected a percentage from 0 to 100 (0: any failed host stops the later batches)"


class BatchProblem(ValueError):
    """A bad `serial` or `max_fail_percentage` value: (where inside it, what is wrong); the loader adds FILE:LINE."""

    def __init__(self, problem: str, index: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.index = index


def parse_serial(value: Any) -> tuple[int | str, ...]:
    """`serial` as loaded from YAML -> a tuple of batch sizes (ints, or 'N%' strings); BatchProblem if bad."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise BatchProblem("got an empty list")
    out: list[int | str] = []
    for i, item in enumerate(items):
        where = i if isinstance(value, list) else None
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise BatchProblem(f"got {item!r}", where)
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, int):
            if item < 1:
                raise BatchProblem(f"got {item}: a batch needs at least one host", where)
            out.append(item)
            continue
        match = _PERCENT.match(item)
        if not match or not 1 <= int(match.group(1)) <= 100:
            raise BatchProblem(f"got {item!r}", where)
        out.append(f"{int(match.group(1))}%")
    return tuple(out)


def parse_max_fail(value: Any) -> float:
    """`max_fail_percentage` -> a number from 0 to 100 (30, 12.5, '30%' as Ansible takes it); BatchProblem if bad."""
    match = _NUMBER.match(value) if isinstance(value, str) else None
    if match:
        value = float(match.group(1))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise BatchProblem(f"got {value!r}")
    return float(value)


def batch_sizes(serial: Sequence[int | str], total: int) -> list[int]:
    """Ansible's batches: each size in turn (a percentage is of all the play's hosts, rounded down, at least
    1), the last size repeating until every host has a batch. No serial: one batch of everything."""
    sizes: list[int] = []
    left, i = total, 0
    while left > 0:
        if not serial:
            size = left
        else:
            item = serial[min(i, len(serial) - 1)]
            size = max(1, int(item[:-1]) * total // 100) if isinstance(item, str) else int(item)
        sizes.append(min(size, left))
        left -= sizes[-1]
        i += 1
    return sizes


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole, 1):g}%"


def _names(results: Sequence[HostResult], limit: int = 3) -> str:
    names = [r.name for r in results]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True, slots=True)
class Batches:
    """A play's batching (an rmmctl.executor.Batching): its `serial` sizes and its `max_fail_percentage`."""

    serial: tuple[int | str, ...] = ()
    max_fail_percentage: float | None = None

    def split(self, hosts: Sequence[Host]) -> list[list[Host]]:
        """The hosts in batches, inventory order kept."""
        out: list[list[Host]] = []
        start = 0
        for size in batch_sizes(self.serial, len(hosts)):
            out.append(list(hosts[start:start + size]))
            start += size
        return out

    def stop_reason(self, number: int, results: Sequence[HostResult]) -> str | None:
        """Why no batch after batch `number` (1-based; `results` are its hosts) may run, or None.

        More than max_fail_percentage of the batch failed (strictly more, as Ansible: 0 means any failure);
        with `serial`, also when every host of the batch failed (Ansible stops then whatever the percentage).
        """
        failed = [r for r in results if r.status in FAILED]
        if not failed or not results:
            return None
        head = f"batch {number} failed {len(failed)} of {len(results)} host{'s' if len(results) != 1 else ''} " \
               f"({_pct(len(failed), len(results))})"
        if self.max_fail_percentage is not None and len(failed) * 100 > self.max_fail_percentage * len(results):
            return f"{head} > max_fail_percentage {self.max_fail_percentage:g} (failed: {_names(failed)})"
        if self.serial and len(failed) == len(results):
            return f"{head}: every host of the batch failed (failed: {_names(failed)})"
        return None
