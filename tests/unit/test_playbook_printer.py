"""The printer module's pure half: argument rules, the plan per queue, the check-mode simulation, what is
still broken (the printer checks' findings) and the act exec's framed answer. The real cupsd runs in
tests/integration/test_play_printer.py."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from rmmctl.playbooks.modules import ArgProblem, lookup, normalize_args
from rmmctl.playbooks.posix_printer import Action, _Failed, act_command, parse_acts, plan, remaining, simulate


def printer(name: str, **kw: Any) -> dict[str, Any]:
    base = {"name": name, "state": "idle", "accepting": True, "state_reasons": [], "message": None,
            "device_uri": "file:/dev/null", "make_and_model": "Generic PostScript Printer", "is_raw": False,
            "ppd": f"/etc/cups/ppd/{name}.ppd", "info": None, "location": None,
            "status_line": f"printer {name} is idle.  enabled since Sun Nov 22 01:47:08 2026"}
    return {**base, **kw}


def job(jid: int, queue: str, age_s: int, **kw: Any) -> dict[str, Any]:
    return {"id": jid, "job": f"{queue}-{jid}", "printer": queue, "user": "ann", "size": 1024,
            "line": f"{queue}-{jid} ann 1024 Sun Nov 22 01:47:08 2026", "submitted": None, "age_s": age_s,
            "state": "processing", "reasons": [], "message": None, **kw}


CUPS = {
    "epoch": 1795312028, "scheduler": {"running": True, "message": "scheduler is running"}, "log": [],
    "log_error": None,
    "printers": [
        printer("ok"),
        printer("paused", state="stopped", state_reasons=["paused"], message="Paused by technician"),
        printer("reject", accepting=False, message="Decommissioned"),
        printer("stuck", state="processing"),
        printer("nodriver", state_reasons=["cups-missing-filter-warning"],
                message='File "/usr/lib/cups/filter/rastertoacme" not available: No such file or directory',
                make_and_model="Acme LaserMax 5000"),
    ],
    "jobs": [job(3, "stuck", 3600), job(4, "stuck", 60), job(5, "paused", 7200, state="pending-held",
                                                               reasons=["job-hold-until-specified"]),
             job(6, "paused", 7200, state="pending")],
}


def args(**kw: Any) -> dict[str, Any]:
    spec = lookup("posix", "printer")
    assert spec is not None
    return normalize_args(spec, kw, templated=True)


def test_the_plan_per_queue_in_order_and_held_jobs_kept() -> None:
    actions = plan(CUPS, args(state="enabled", accept=True, cancel_stuck_jobs_older_than_minutes=30))
    assert [(a.printer, a.text) for a in actions] == [
        ("paused", "cancel job 6 on paused"),  # before cupsenable: a stale job does not suddenly print
        ("paused", "re-enable paused"),
        ("reject", "accept on reject"),
        ("stuck", "cancel job 3 on stuck"),  # job 4 is only a minute old
    ]
    assert actions[1].argv == ["cupsenable", "paused"] and actions[3].argv == ["cancel", "3"]
    assert plan(CUPS, args(name="ok", state="enabled", accept=True)) == []
    zero = plan(CUPS, args(name="stuck", cancel_stuck_jobs_older_than_minutes="0"))
    assert zero[0].jobs == [3, 4]
    off = plan(CUPS, args(name=["ok", "reject"], state="disabled", accept=False, reason="Moved: use ok2"))
    assert [a.argv for a in off] == [["cupsreject", "-r", "Moved: use ok2", "ok"],
                                     ["cupsdisable", "-r", "Moved: use ok2", "ok"],
                                     ["cupsdisable", "-r", "Moved: use ok2", "reject"]]


def test_an_unknown_queue_fails_before_anything_is_planned() -> None:
    with pytest.raises(_Failed, match=r"no such printer: nope \(printers here: nodriver, ok, paused, reject, stuck\)"):
        plan(CUPS, args(name="ok,nope", state="enabled"))


def test_a_driver_is_set_only_where_the_model_differs() -> None:
    a = args(name=["ok", "nodriver"], driver="drv:///sample.drv/generic.ppd")
    [act] = plan(CUPS, a, {"driver": "Generic PostScript Printer"})
    assert act.printer == "nodriver" and act.argv == ["lpadmin", "-p", "nodriver", "-m", "drv:///sample.drv/generic.ppd"]
    with pytest.raises(_Failed, match="not a model this host offers"):
        plan(CUPS, a, {"driver": None})
    with pytest.raises(_Failed, match="no such file or not readable"):
        plan(CUPS, args(name="ok", ppd="/srv/x.ppd"), {"ppd_unreadable": "1"})


def test_still_broken_is_what_the_printer_checks_find_and_check_mode_predicts_it() -> None:
    a = args(state="enabled", accept=True, cancel_stuck_jobs_older_than_minutes=30)
    before = {(r["printer"], r["check_id"]) for r in remaining(CUPS, a, {})}
    assert before == {("paused", "printers.paused"), ("reject", "printers.rejecting"),
                      ("stuck", "printers.stuck_queue"), ("nodriver", "printers.driver_missing")}
    after = remaining(simulate(CUPS, plan(CUPS, a), None), a, {})
    assert [(r["printer"], r["check_id"]) for r in after] == [("nodriver", "printers.driver_missing")]
    assert after[0]["text"] == "nodriver: driver filter rastertoacme is missing: cannot fix here, install the driver"
    # a queue the task disables or sets to reject on purpose is not broken
    off = args(name="paused", state="disabled", accept=False)
    assert remaining(CUPS, off, {}) == []
    down = {**CUPS, "scheduler": {"running": False, "message": "scheduler is not running"}}
    assert [r["check_id"] for r in remaining(down, a, {})] == ["printers.scheduler_down"]


def test_the_act_exec_quotes_every_word_and_its_answer_is_read_per_action() -> None:
    acts = [Action("a;b", "enable", ["cupsenable", "$(touch x)"], "re-enable"),
            Action("c", "cancel", ["cancel", "7"], "cancel", [7])]
    script = shlex.split(act_command(acts, "abc123", "/etc/init.d", None))[2]  # sh -c SCRIPT sh NONCE DIR
    assert "_a 0 cupsenable '$(touch x)'; _a 1 cancel 7; _gone 7;" in script
    parse_acts("@@abc123 act 0 1\ncupsenable: Unknown destination\n@@abc123 act 1 0\n@@abc123 START\n", "abc123",
               acts)
    assert (acts[0].rc, acts[0].output, acts[1].rc, acts[1].output) == (1, "cupsenable: Unknown destination", 0, "")
    lost = [Action("x", "enable", ["cupsenable", "x"], "re-enable x")]
    parse_acts("", "abc123", lost)
    assert lost[0].rc == -1


@pytest.mark.parametrize(("given", "problem"), [
    ({"name": "a b", "state": "enabled"}, "name: got 'a b'"),
    ({"name": "-x", "state": "enabled"}, "name: got '-x'"),
    ({"name": ["all", "x"], "state": "enabled"}, "all together with other names"),
    ({"restart_scheduler": "maybe"}, "restart_scheduler: got 'maybe'"),
    ({"name": "x", "ppd": "/a.ppd", "driver": "raw"}, "give ppd or driver, not both"),
    ({"driver": "raw"}, "would set one driver on every queue"),
    ({"name": "x", "driver": "everywhere"}, "cannot be planned"),
    ({"cancel_stuck_jobs_older_than_minutes": "soon"}, "expected 0 or more minutes"),
    ({"reason": "x", "state": "enabled"}, "only goes with"),
    ({}, "nothing to do"),
])
def test_argument_rules(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(ArgProblem, match=problem.replace("(", r"\(").replace(")", r"\)")):
        args(**given)


def test_restart_scheduler_words() -> None:
    assert args(restart_scheduler=True)["restart_scheduler"] == "always"
    assert args(restart_scheduler="if_down")["restart_scheduler"] == "if_down"
    assert args(restart_scheduler="no", state="enabled")["restart_scheduler"] == "never"
