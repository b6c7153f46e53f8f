"""The POSIX `printer` module: repair CUPS queues (enable, accept, cancel stuck jobs, start the scheduler,
set a driver), and report what is still broken afterwards.

The state comes from the `printers` probe section itself (rmmctl.probes.linux: `lpstat -r`, `lpoptions`,
`lpstat -l -p`, `lpstat -l -o`, ipptool, the error_log; LC_ALL=C), read in ONE exec and parsed by its
own parser; what counts as paused, rejecting, stuck or a missing driver is what rmmctl.checks.printers
says. The actions and a second read of the state go in one more exec, so the report of what is still
broken is the state after the repair (its findings, judged by the same checks). Only when the
scheduler must first be started does a third exec run (start, wait until it answers, read).

Every name and value reaches the host as a shell-quoted word; printer names are checked against the
rule lpadmin applies (no spaces, slashes, quotes, `#`, `?`, `\\`), and must not start with `-`.
"""

from __future__ import annotations

import copy
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rmmctl.checks.printers import PRINTER_CHECKS, held_job
from rmmctl.checks.registry import run_checks
from rmmctl.errors import CommandTimeout
from rmmctl.facts import section, unavailable_reason
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.probes import ProbeError
from rmmctl.probes.linux import bundle
from rmmctl.probes.linux.prober import parse_result

DEFAULT_INIT_DIR = "/etc/init.d"
DEFAULT_STUCK_MINUTES = 15.0  # the printers.stuck_queue default, for the report when no limit is given
START_WAIT_S = 30  # how long a started scheduler has to answer `lpstat -r`
CANCEL_WAIT_S = 10  # how long cancelled jobs have to leave `lpstat -o` (a backend is being killed)
NAME_RE = re.compile(r"[^\x00-\x20\x7f/\\?'\"#,-][^\x00-\x20\x7f/\\?'\"#,]{0,126}")
SERVICE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@:+-]{0,254}")
RESTART = {"true": "always", "yes": "always", "on": "always", "always": "always",
           "false": "never", "no": "never", "off": "never", "never": "never", "if_down": "if_down"}
_MISSING_FILTER = "cups-missing-filter-warning"
_STALE_FILTER_RE = re.compile(r'File "[^"]*" not available')  # the message CUPS keeps after a driver change
_DEPRECATED = "are deprecated and will stop working"  # lpadmin says so on every PPD or raw queue
# What the module cannot fix, per check: the hint after the finding's title in the report.
HINTS = {
    "printers.driver_missing": "cannot fix here, install the driver",
    "printers.driver_crash": "cannot fix here, reinstall or update the driver",
    "printers.unreachable": "cannot fix here, check the device (power, network, address)",
    "printers.raw_queue": "set its driver with `driver:` or `ppd:`",
    "printers.paused": "`state: enabled` re-enables it",
    "printers.rejecting": "`accept: true` makes it accept jobs",
    "printers.stuck_queue": "`cancel_stuck_jobs_older_than_minutes` cancels such jobs",
}


class _Failed(Exception):
    """The module's one-line failure."""


@dataclass
class Action:
    """One change to one queue (or to the scheduler: printer None)."""

    printer: str | None
    what: str  # enable, disable, accept, reject, cancel, driver, ppd, restart, start
    argv: list[str]
    text: str  # for the message: "enable office-paused"
    jobs: list[int] = field(default_factory=list)
    rc: int | None = None
    output: str = ""
    shown: str = ""  # the command as the audit trail and data show it (default: argv quoted)

    @property
    def command(self) -> str:
        return self.shown or shlex.join(self.argv)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"printer": self.printer, "action": self.what, "command": self.command}
        if self.jobs:
            out["jobs"] = self.jobs
        if self.rc is not None:
            out.update(rc=self.rc, output=self.output)
        return out


# ---- reading the state -------------------------------------------------------------------------------

_DRIVER_SCRIPT = (
    # $1 nonce, $2 ppd path or "", $3 driver model or "": the PPD's *NickName, the model's lpinfo description
    'N=$1; if [ -n "$2" ]; then '
    'if [ -r "$2" ]; then printf "@@%s ppd " "$N"; '
    "sed -n 's/^\\*NickName:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p' \"$2\" | head -n 1; echo; "
    'else printf "@@%s ppd-unreadable\\n" "$N"; fi; fi; '
    'if [ -n "$3" ]; then printf "@@%s driver " "$N"; '
    "lpinfo -m 2>/dev/null | awk -v m=\"$3\" '$1 == m { sub(/^[^ ]+ /, \"\"); print; exit }'; echo; fi"
)


def read_command(nonce: str, ppd: str | None = None, driver: str | None = None) -> str:
    """The one exec that reads the CUPS state: the probe's printers section (+ the PPD/driver lookup)."""
    line = bundle.probe_command(bundle.build_script(["printers"], nonce=nonce))
    if ppd or driver:
        line += "; " + shlex.join(["sh", "-c", _DRIVER_SCRIPT, "sh", nonce, ppd or "", driver or ""])
    return line


def parse_state(result: Any, nonce: str, started: float) -> dict[str, Any]:
    """The probe's answer -> the printers facts (PrintersFacts); _Failed when CUPS cannot be read."""
    try:
        facts = parse_result(result, nonce, ["printers"], controller_time=started)
    except ProbeError as exc:
        raise _Failed(f"cannot read the CUPS state: {exc}") from None
    if "printers" in facts.errors:
        raise _Failed(f"cannot read the CUPS state: {facts.errors['printers']}")
    cups = section(facts, "printers")
    if cups is None:
        reason = unavailable_reason(facts.get("printers"))
        raise _Failed(f"cannot read the CUPS state: {reason or 'no printers section'}")
    return dict(cups)


def parse_lookup(stdout: str, nonce: str) -> dict[str, str | None]:
    """The PPD/driver lookup lines -> {"ppd": NickName or None, "ppd_unreadable": "1"?, "driver": text}."""
    out: dict[str, str | None] = {}
    for line in stdout.splitlines():
        if line.startswith(f"@@{nonce} ppd-unreadable"):
            out["ppd_unreadable"] = "1"
        elif line.startswith(f"@@{nonce} ppd "):
            out["ppd"] = line[len(f"@@{nonce} ppd "):].strip() or None
        elif line.startswith(f"@@{nonce} driver "):
            out["driver"] = line[len(f"@@{nonce} driver "):].strip() or None
    return out


# ---- planning (pure) ---------------------------------------------------------------------------------

def select(cups: Mapping[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    """The queues `name` means (every one for `all`); _Failed naming any that does not exist."""
    printers = list(cups.get("printers") or [])
    if list(names) == ["all"]:
        return printers
    by_name = {p["name"]: p for p in printers}
    missing = [n for n in names if n not in by_name]
    if missing:
        here = ", ".join(sorted(by_name)) or "none"
        raise _Failed(f"no such printer: {', '.join(missing)} (printers here: {here})")
    return [by_name[n] for n in dict.fromkeys(names)]


def stuck_jobs(cups: Mapping[str, Any], printer: str, minutes: float) -> list[dict[str, Any]]:
    """Unfinished jobs of the queue waiting `minutes` or more; held jobs are never stuck (a user held them)."""
    return [j for j in cups.get("jobs") or []
            if j.get("printer") == printer and not held_job(j) and j.get("age_s") is not None
            and j["age_s"] >= minutes * 60]


def wanted_model(args: Mapping[str, Any], lookup: Mapping[str, str | None]) -> str | None:
    """The make-and-model the queue has once `ppd`/`driver` is set (CUPS takes the PPD's *NickName)."""
    if args.get("ppd"):
        if lookup.get("ppd_unreadable"):
            raise _Failed(f"ppd {args['ppd']}: no such file or not readable on the host")
        if not lookup.get("ppd"):
            raise _Failed(f"ppd {args['ppd']}: no *NickName line (not a PPD file?)")
        return lookup["ppd"]
    if args.get("driver"):
        if args["driver"] == "raw":
            return "Local Raw Printer"
        if not lookup.get("driver"):
            raise _Failed(f"driver {args['driver']}: not a model this host offers (`lpinfo -m` does not list it)")
        return lookup["driver"]
    return None


def plan(cups: Mapping[str, Any], args: Mapping[str, Any], lookup: Mapping[str, str | None] | None = None
         ) -> list[Action]:
    """The changes, per queue in order: driver, cancel stuck jobs, accept/reject, enable/disable."""
    actions: list[Action] = []
    model = wanted_model(args, lookup or {})
    reason = args.get("reason")
    for p in select(cups, args["name"]):
        name = p["name"]
        if model is not None and ((p.get("make_and_model") or "") != model
                                  or _MISSING_FILTER in p.get("state_reasons", ())
                                  or (p.get("is_raw") and model != "Local Raw Printer")):
            if args.get("ppd"):
                actions.append(Action(name, "ppd", ["lpadmin", "-p", name, "-P", args["ppd"]],
                                      f"set the PPD of {name} to {args['ppd']}"))
            else:
                actions.append(Action(name, "driver", ["lpadmin", "-p", name, "-m", args["driver"]],
                                      f"set the driver of {name} to {args['driver']}"))
        minutes = args.get("cancel_stuck_jobs_older_than_minutes")
        if minutes is not None:
            jobs = sorted(j["id"] for j in stuck_jobs(cups, name, minutes))
            if jobs:
                actions.append(Action(name, "cancel", ["cancel", *map(str, jobs)],
                                      f"cancel job{'s' if len(jobs) > 1 else ''} {', '.join(map(str, jobs))} on {name}",
                                      jobs))
        accept = args.get("accept")
        if accept is True and not p.get("accepting", True):
            actions.append(Action(name, "accept", ["cupsaccept", name], f"accept on {name}"))
        elif accept is False and p.get("accepting", True):
            actions.append(Action(name, "reject", ["cupsreject", *(["-r", reason] if reason else []), name],
                                  f"reject on {name}"))
        state = args.get("state")
        if state == "enabled" and p.get("state") == "stopped":
            actions.append(Action(name, "enable", ["cupsenable", name], f"re-enable {name}"))
        elif state == "disabled" and p.get("state") != "stopped":
            actions.append(Action(name, "disable", ["cupsdisable", *(["-r", reason] if reason else []), name],
                                  f"disable {name}"))
    return actions


def simulate(cups: Mapping[str, Any], actions: Sequence[Action], model: str | None) -> dict[str, Any]:
    """The state the actions would leave (check mode: what would still be broken)."""
    out = copy.deepcopy(dict(cups))
    by_name = {p["name"]: p for p in out.get("printers") or []}
    for a in actions:
        p = by_name.get(a.printer or "")
        if p is None:
            continue
        if a.what in ("ppd", "driver"):
            p.update(make_and_model=model, is_raw=model == "Local Raw Printer", message=None,
                     state_reasons=[r for r in p.get("state_reasons", []) if r != _MISSING_FILTER])
            out["log"] = [e for e in out.get("log") or [] if e.get("printer") != p["name"]]
        elif a.what == "cancel":
            out["jobs"] = [j for j in out.get("jobs") or [] if j["id"] not in a.jobs]
        elif a.what in ("accept", "reject"):
            p["accepting"] = a.what == "accept"
        elif a.what == "enable":
            p.update(state="idle", state_reasons=[r for r in p.get("state_reasons", []) if r != "paused"])
        elif a.what == "disable":
            p.update(state="stopped", state_reasons=[*p.get("state_reasons", []), "paused"])
    return out


def remaining(cups: Mapping[str, Any], args: Mapping[str, Any], host_vars: Mapping[str, Any],
              host: str = "") -> list[dict[str, Any]]:
    """What is still broken on the selected queues: the printer checks' findings, one entry each.

    A state the task asked for is not a problem (a queue it disabled, or set to reject). When the task
    sets the driver (`ppd`/`driver`), a queue's driver is judged by its current state only: the error_log
    lines and the printer message of an earlier driver do not count (CUPS keeps that message after
    `lpadmin -P`/`-m`), the missing-filter reason does."""
    if not cups.get("scheduler", {}).get("running"):
        return [{"printer": None, "check_id": "printers.scheduler_down", "severity": "critical",
                 "problem": "the CUPS scheduler is not running",
                 "fix": "`restart_scheduler: if_down` starts it", "text": "the CUPS scheduler is not running "
                 "(`restart_scheduler: if_down` starts it)"}]
    minutes = args.get("cancel_stuck_jobs_older_than_minutes")
    hv = {**host_vars, "printer_stuck_minutes": minutes if minutes is not None
          else host_vars.get("printer_stuck_minutes", DEFAULT_STUCK_MINUTES)}
    checks = [c for c in PRINTER_CHECKS if c.id != "printers.scheduler_down"]
    out: list[dict[str, Any]] = []
    for p in select(cups, args["name"]):
        log = [e for e in cups.get("log") or [] if e.get("printer") == p["name"]]
        if args.get("ppd") or args.get("driver"):
            log = []
            if _MISSING_FILTER not in p.get("state_reasons", ()) and _STALE_FILTER_RE.search(p.get("message") or ""):
                p = {**p, "message": None}
        one = {"printers": {**cups, "printers": [p], "log": log}}
        for f in run_checks(checks, one, hv, host):
            if (f.check_id == "printers.paused" and args.get("state") == "disabled") or \
                    (f.check_id == "printers.rejecting" and args.get("accept") is False):
                continue
            problem = f.title.removeprefix("printer ")
            hint = HINTS.get(f.check_id, "")
            out.append({"printer": p["name"], "check_id": f.check_id, "severity": f.severity.value,
                        "problem": problem, "fix": f.remediation,
                        "text": f"{problem}: {hint}" if hint else problem})
    return out


# ---- acting ------------------------------------------------------------------------------------------

_ACT_FUNCS = (
    'N=$1; D=$2; '
    '_a() { _i=$1; shift; _o=$("$@" </dev/null 2>&1); _r=$?; printf "@@%s act %s %s\\n" "$N" "$_i" "$_r"; '
    '[ -z "$_o" ] || printf "%s\\n" "$_o" | grep -v "' + _DEPRECATED + '" | head -n 20; }; '
    '_up() { _n=0; until lpstat -r 2>/dev/null | grep -q "scheduler is running"; do _n=$((_n+1)); '
    f'[ $_n -gt {START_WAIT_S * 5} ] && {{ echo "the scheduler did not answer within {START_WAIT_S} s"; return 1; }}; '
    'sleep 0.2; done; }; '
    '_svc() { if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl "$1" -- "$2" && _up; '
    'elif [ -x "$D/$2" ]; then "$D/$2" "$1" && _up; '
    'elif [ "$D" = ' + DEFAULT_INIT_DIR + ' ] && command -v service >/dev/null 2>&1; then service "$2" "$1" && _up; '
    'else echo "no systemd here, no init script $D/$2 and no service command"; return 127; fi; }; '
    '_gone() { _n=0; while lpstat -o 2>/dev/null | grep -Eq "^[^ ]+-($1) "; do _n=$((_n+1)); '
    f'[ $_n -gt {CANCEL_WAIT_S * 10} ] && return 0; sleep 0.1; done; }}; '
)


def act_command(actions: Sequence[Action], nonce: str, init_dir: str, read: str | None) -> str:
    """One exec: each action (its rc and output framed by the nonce), then the state read again."""
    body = [_ACT_FUNCS]
    for i, a in enumerate(actions):
        body.append(f"_a {i} {shlex.join(a.argv)}; ")
    cancelled = [j for a in actions if a.what == "cancel" for j in a.jobs]
    if cancelled:
        body.append(f"_gone {'|'.join(str(int(j)) for j in cancelled)}; ")
    line = shlex.join(["sh", "-c", "".join(body), "sh", nonce, init_dir])
    return f"{line}; {read}" if read else line


def parse_acts(stdout: str, nonce: str, actions: Sequence[Action]) -> None:
    """Fill each action's rc and output from the act exec's framed lines (an action not reported: rc -1)."""
    current: Action | None = None
    mark = f"@@{nonce} act "
    for line in stdout.splitlines():
        if line.startswith(mark):
            fields = line[len(mark):].split()
            if len(fields) == 2 and fields[0].isdigit() and int(fields[0]) < len(actions):
                current = actions[int(fields[0])]
                current.rc = int(fields[1]) if fields[1].lstrip("-").isdigit() else -1
                current.output = ""
            continue
        if line.startswith(f"@@{nonce} "):
            current = None
            break
        if current is not None and len(current.output) < 2000:
            current.output = (current.output + "\n" + line).strip("\n")
    for a in actions:
        if a.rc is None:
            a.rc, a.output = -1, a.output or "no answer (the exec ended before this action)"


def scheduler_action(restart: str, running: bool, service: str) -> Action | None:
    """Start (if_down, when down) or restart (always) the scheduler's service: systemd, else the init script."""
    what = "restart" if restart == "always" else "start" if restart == "if_down" and not running else None
    if what is None:
        return None
    return Action(None, what, ["_svc", what, service], f"{what} the CUPS scheduler ({service})",
                  shown=f"{what} {service} (systemctl, else the init script), wait until lpstat -r answers")


# ---- the module --------------------------------------------------------------------------------------

def _summary(actions: Sequence[Action], left: Sequence[Mapping[str, Any]], check: bool) -> str:
    parts = []
    if actions:
        parts.append(("would " if check else "") + ", ".join(a.text for a in actions))
    if left:
        shown = "; ".join(r["text"] for r in left[:5]) + (f"; and {len(left) - 5} more" if len(left) > 5 else "")
        parts.append(("would still be broken: " if check else "still broken: ") + shown)
    if not parts:
        return "every selected printer is ready" + (" (check mode)" if check else "")
    return "; ".join(parts) + (" (check mode)" if check and actions else "")


def _status(actions: Sequence[Action], left: Sequence[Any], args: Mapping[str, Any]) -> str:
    if left and args.get("fail_on_remaining"):
        return "failed"
    return "changed" if actions else "ok"


def _read(call: ModuleCall, args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str | None]]:
    nonce = bundle.new_nonce()
    started = time.time()
    result = call.run(read_command(nonce, args.get("ppd"), args.get("driver")), audit_as="printer: read the CUPS state")
    return parse_state(result, nonce, started), parse_lookup(result.stdout, nonce)


def _run_acts(call: ModuleCall, actions: list[Action], init_dir: str, args: Mapping[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The act exec (each action's rc and output filled in) and the state read after it (with the
    PPD/driver lookup when `args` are given: after starting the scheduler)."""
    nonce = bundle.new_nonce()
    started = time.time()
    read = read_command(nonce, *((args.get("ppd"), args.get("driver")) if args else ()))
    shown = "; ".join(a.command for a in actions)
    result = call.run(act_command(actions, nonce, init_dir, read), audit_as=f"printer: {shown}; read the CUPS state")
    parse_acts(result.stdout, nonce, actions)
    try:
        return parse_state(result, nonce, started), parse_lookup(result.stdout, nonce)
    except _Failed as exc:
        raise _Failed(f"{', '.join(a.text for a in actions)}; then {exc}") from None


def _printer(call: ModuleCall) -> TaskResult:
    args = call.args
    host_vars = call.ctx.host.vars
    init_dir = str(host_vars.get("service_init_dir") or DEFAULT_INIT_DIR)
    data: dict[str, Any] = {"actions": [], "remaining": []}
    done: list[Action] = []
    try:
        cups, lookup = _read(call, args)
        running = bool(cups.get("scheduler", {}).get("running"))
        sched = scheduler_action(args["restart_scheduler"], running, args["scheduler_service"])
        data["scheduler"] = {"running": running}
        if not running:
            if sched is None:
                raise _Failed("the CUPS scheduler is not running ("
                              f"{cups.get('scheduler', {}).get('message') or 'lpstat -r'}); "
                              "`restart_scheduler: if_down` starts it")
            if call.check:
                data["actions"] = [sched.to_dict()]
                return TaskResult("changed", f"would {sched.text}; the queues are read once it runs (check mode)",
                                  {**data, "check_mode": True})
            try:
                cups, lookup = _run_acts(call, [sched], init_dir, args)  # the driver lookup needs it running too
            finally:
                data["actions"].append(sched.to_dict())
            if sched.rc != 0:
                raise _Failed(f"{sched.text}: rc={sched.rc}: {(sched.output.splitlines() or [''])[-1][:200]}")
            done.append(sched)
            data["scheduler"] = {"running": bool(cups.get("scheduler", {}).get("running")), "started": True}
            sched = None
        model = wanted_model(args, lookup)
        actions = ([sched] if sched else []) + plan(cups, args, lookup)
        data["printers"] = [p["name"] for p in select(cups, args["name"])]
        if call.check:
            data["actions"] = [a.to_dict() for a in actions]
            left = remaining(simulate(cups, actions, model), args, host_vars, call.ctx.host.name)
            data["remaining"] = left
            status = _status(actions, left, args)
            return TaskResult(status, _summary(actions, left, True), {**data, "check_mode": True})
        if actions:
            try:
                cups, _ = _run_acts(call, actions, init_dir)
            finally:
                data["actions"] += [a.to_dict() for a in actions]
            bad = [a for a in actions if a.rc != 0]
            if bad:
                left = remaining(cups, args, host_vars, call.ctx.host.name)
                data["remaining"] = left
                first = bad[0]
                return TaskResult("failed", f"{first.text}: rc={first.rc}: "
                                  f"{(first.output.splitlines() or [''])[-1][:200]}"
                                  + (f" ({len(bad) - 1} more failed)" if len(bad) > 1 else ""), data)
            done += actions
        left = remaining(cups, args, host_vars, call.ctx.host.name)
        data["remaining"] = left
        return TaskResult(_status(done, left, args), _summary(done, left, False), data)
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}", data)
    except _Failed as exc:
        return TaskResult("failed", str(exc), data)


def _rules(args: dict) -> None:
    names = args["name"] = [part.strip() for n in args["name"] or [] for part in str(n).split(",") if part.strip()]
    if not names:
        raise ArgProblem("name", "got an empty list", "expected a printer, a list of printers, or all")
    for n in names:
        if n != "all" and not NAME_RE.fullmatch(n):
            raise ArgProblem("name", f"got {n!r}", "expected a CUPS queue name (up to 127 characters, no spaces, "
                             "slashes, quotes, commas, # or ?; not starting with -), or all")
    if "all" in names and len(names) > 1:
        raise ArgProblem("name", "all together with other names", "expected either all or a list of printers")
    restart = args["restart_scheduler"]
    key = str(restart).strip().lower() if isinstance(restart, (str, bool)) else None
    if key not in RESTART:
        raise ArgProblem("restart_scheduler", f"got {restart!r}", "expected true, false or if_down")
    args["restart_scheduler"] = RESTART[key]
    if not SERVICE_RE.fullmatch(args["scheduler_service"]):
        raise ArgProblem("scheduler_service", f"got {args['scheduler_service']!r}", "expected a service name like cups")
    if args["ppd"] and args["driver"]:
        raise ArgProblem("ppd", "give ppd or driver, not both", "expected one of them")
    if (args["ppd"] or args["driver"]) and names == ["all"]:
        raise ArgProblem("driver" if args["driver"] else "ppd", "would set one driver on every queue",
                         "expected `name:` to list the printers it is for")
    if args["driver"] == "everywhere":
        raise ArgProblem("driver", "everywhere takes its model from the printer itself, so it cannot be planned",
                         "expected a model `lpinfo -m` lists (or run `lpadmin -p NAME -m everywhere` once)")
    minutes = args["cancel_stuck_jobs_older_than_minutes"]
    if minutes is not None:
        try:
            number = float(minutes) if not isinstance(minutes, bool) else -1.0
        except (TypeError, ValueError):
            number = -1.0
        if not number >= 0:  # NaN too
            raise ArgProblem("cancel_stuck_jobs_older_than_minutes", f"got {minutes!r}", "expected 0 or more minutes")
        args["cancel_stuck_jobs_older_than_minutes"] = number
    if args["reason"] is not None and args["state"] != "disabled" and args["accept"] is not False:
        raise ArgProblem("reason", "only goes with `state: disabled` or `accept: false`", "expected one of those")
    if not any(args[k] is not None for k in ("state", "accept", "cancel_stuck_jobs_older_than_minutes", "ppd",
                                             "driver")) and args["restart_scheduler"] == "never" \
            and not args["fail_on_remaining"]:
        raise ArgProblem("state", "nothing to do", "expected state, accept, cancel_stuck_jobs_older_than_minutes, "
                         "restart_scheduler, ppd, driver or fail_on_remaining")


register(ModuleSpec(
    "printer", "posix",
    (Arg("name", "list", default=["all"], aliases=("printer", "printers"),
         help="a CUPS queue, a list (or a comma-separated string) of queues, or all (the default)"),
     Arg("state", choices=("enabled", "disabled"), help="enabled: cupsenable a stopped queue; disabled: cupsdisable"),
     Arg("accept", "bool", help="true: cupsaccept a queue that rejects jobs; false: cupsreject"),
     Arg("reason", help="the -r text for `state: disabled` / `accept: false`"),
     Arg("cancel_stuck_jobs_older_than_minutes", "minutes",
         help="cancel unfinished jobs waiting this long or longer (0: every unfinished job); held jobs are kept"),
     Arg("restart_scheduler", "restart", default="never",
         help="if_down: start cupsd when it is not running; true: restart it always; false (default): never"),
     Arg("scheduler_service", default="cups", help="the scheduler's service name (systemd unit or init script)"),
     Arg("ppd", help="a PPD file on the host to set (lpadmin -p NAME -P FILE)"),
     Arg("driver", help="a driver model from `lpinfo -m` to set (lpadmin -p NAME -m MODEL), e.g. "
                        "drv:///sample.drv/generic.ppd"),
     Arg("fail_on_remaining", "bool", default=False,
         help="fail the task when a selected printer is still broken afterwards (e.g. a missing driver)")),
    "plan", _printer,
    "repair CUPS queues (enable, accept, cancel stuck jobs, start the scheduler, set a driver); report what is "
    "still broken",
    validate=_rules,
))
