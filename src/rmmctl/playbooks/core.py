"""OS-neutral modules, registered for every family: `facts` (re-probe sections mid-play) and `assert`
(conditions over facts and vars, Ansible's arguments). Neither changes anything; both run in check mode."""

from __future__ import annotations

from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.playbooks import hostfacts
from rmmctl.playbooks.modules import FAMILIES, Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.template import TemplateProblem, evaluate


def _facts_validate(args: dict[str, Any]) -> None:
    from rmmctl.inventory.parse import did_you_mean

    for name in args["sections"] or ():
        if name not in hostfacts.KNOWN:
            raise ArgProblem("sections", f"unknown section {name!r}{did_you_mean(name, hostfacts.KNOWN)}",
                             f"expected some of {', '.join(hostfacts.KNOWN)} (docs/facts.md)")


def _facts(call: ModuleCall) -> TaskResult:
    """Probe the sections (one exec) and refresh `facts` for the tasks after this one."""
    from rmmctl.probes import ProbeError

    if call.facts is None:
        return TaskResult("failed", "facts: no host facts in this context")
    try:
        data = call.facts.collect(call.args["sections"] or None)
    except (ProbeError, ConfigError) as exc:
        return TaskResult("failed", f"facts: {exc}"[:300])
    probed = [k for k in data if k != "errors"]
    errors = data.get("errors") or {}
    msg = f"probed {', '.join(probed)}" + (f"; failed: {', '.join(sorted(errors))}" if errors else "")
    return TaskResult("ok", msg[:300], data)


def _that(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(c, bool) or (isinstance(c, str) and c.strip()) for c in items):
        raise ArgProblem("that", f"got {value!r}"[:80], "expected an expression or a list of them like 'x > 1'")
    return items


def _assert(call: ModuleCall) -> TaskResult:
    """Each condition in order; the first false one fails the task (Ansible's `assert`)."""
    args = call.args
    try:
        that = _that(args["that"])
    except ArgProblem as exc:
        return TaskResult("failed", f"assert.{exc}")
    for i, condition in enumerate(that):
        try:
            held = evaluate(condition, call.variables)
        except TemplateProblem as exc:
            return TaskResult("failed", f"assert: that[{i}] {condition}: {exc}"[:300], {"assertion": condition})
        if not held:
            msg = args["fail_msg"] if args["fail_msg"] is not None else f"assertion failed: {condition}"
            return TaskResult("failed", str(msg)[:300], {"assertion": condition, "evaluated_to": False})
    msg = args["success_msg"] if args["success_msg"] is not None else ("" if args["quiet"] else "All assertions passed")
    return TaskResult("ok", str(msg)[:300], {"assertions": len(that)})


for _family in FAMILIES:
    register(ModuleSpec(
        "facts", _family,
        (Arg("sections", "list", help="the sections to probe again (default: those the play reads, else the "
                                      "metrics set)"),),
        "plan", _facts, summary="re-probe facts sections; later tasks see the new `facts`", changes=False,
        validate=_facts_validate))
    register(ModuleSpec(
        "assert", _family,
        (Arg("that", "conditions", required=True, help="an expression or a list: all must hold"),
         Arg("fail_msg", aliases=("msg",), help="the message when one is false"),
         Arg("success_msg", help="the message when all hold"),
         Arg("quiet", "bool", default=False, help="no message when all hold")),
        "plan", _assert, summary="fail the host unless the conditions hold", changes=False,
        expressions=("that",)))
