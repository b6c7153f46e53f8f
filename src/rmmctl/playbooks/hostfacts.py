"""`facts` in a play: which sections a play reads, and one host's probed facts during its run.

A play that refers to `facts` (in any template or condition: vars, require, tasks, handlers) has those
sections probed once per host, in one exec (rmmctl.probes.collect), before its first task; the `facts`
module re-probes mid-play. The value is the shape of `rmmctl metrics -o json` data.facts: section ->
dict, plus `errors` (section -> one-line message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rmmctl.facts import SECTION_TYPES
from rmmctl.playbooks.template import ANY, TemplateProblem, references

if TYPE_CHECKING:
    from rmmctl.executor import HostContext
    from rmmctl.playbooks.load import Play, Task

KNOWN = tuple(SECTION_TYPES)
"""The facts sections a template may name (docs/facts.md); `errors` is a key of `facts` too."""


def default_sections() -> tuple[str, ...]:
    """What is probed when a play's use of `facts` cannot be told apart: the sections `rmmctl metrics` reads."""
    from rmmctl.health import METRICS_SECTIONS

    return METRICS_SECTIONS


def task_references(task: Task) -> set[str]:
    """The `facts` keys one task reads (ANY when it cannot be told)."""
    found = references(task.args) | references(task.loop)
    for conditions in (task.when, task.changed_when, task.failed_when, task.until):
        found |= references(list(conditions or ()), expression=True)
    from rmmctl.playbooks.modules import specs_named

    for key in {k for spec in specs_named(task.module) for k in spec.expressions}:  # assert's `that`
        found |= references(task.args.get(key), expression=True)
    return found


def wanted_sections(play: Play, tasks: Iterable[Task]) -> tuple[str, ...]:
    """The sections to probe before the first task: those that `play` (its vars, require, handlers and
    these tasks) reads from `facts`, the default set when a use cannot be told, () when `facts` is unused."""
    found = references(play.vars) | references(list(play.require), expression=True)
    for task in (*tasks, *play.handlers):
        found |= task_references(task)
    if not found:
        return ()
    if ANY in found or not found - {"errors"}:
        return default_sections()
    return tuple(s for s in KNOWN if s in found)


class PlayFacts:
    """One host's facts during a play: probed on demand (one exec for all the sections asked for), merged
    section by section (a re-probe replaces the sections it read and keeps the others)."""

    def __init__(self, ctx: HostContext, wanted: Sequence[str]) -> None:
        self.ctx = ctx
        self.wanted = tuple(wanted) or default_sections()
        self.value: dict[str, Any] | None = None  # None until probed: `facts` is then not defined

    def collect(self, sections: Sequence[str] | None = None) -> dict[str, Any]:
        """Probe `sections` (default: the play's) in one exec; returns just what was probed (with its
        errors). ProbeError when the output is unreadable; ConfigError for a bad probe var (backup_paths)."""
        from rmmctl.probes import collect

        chosen = tuple(sections or self.wanted)
        got = collect(self.ctx, chosen, self._params(chosen)).to_jsonable()
        merged = {k: v for k, v in (self.value or {"errors": {}}).items() if k not in chosen}  # none stale
        errors = {k: v for k, v in merged.get("errors", {}).items() if k not in chosen}
        merged.update(got)
        merged["errors"] = {**errors, **got.get("errors", {})}
        self.value = merged
        return got

    def _params(self, sections: Sequence[str]) -> dict[str, Any]:
        """The probe parameters these sections need for this host (e.g. backup paths from its vars)."""
        from rmmctl.checks.catalog import CHECKS
        from rmmctl.checks.registry import params_for

        checks = [c for c in CHECKS.all() if set(c.sections) & set(sections)]
        return params_for(checks, self.ctx.host.vars, self.ctx.host.name)


def check_references(value: Any, *, expression: bool = False) -> None:
    """TemplateProblem naming the first `facts.X` in `value` whose X is no facts section (a typo)."""
    from rmmctl.inventory.parse import did_you_mean

    for key in sorted(references(value, expression=expression) - {ANY, "errors", *KNOWN}):
        raise TemplateProblem(f"unknown facts section {key!r}{did_you_mean(key, KNOWN)}")
