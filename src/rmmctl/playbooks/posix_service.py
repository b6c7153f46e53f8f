"""The POSIX `service` module: systemd, or the SysV/OpenRC init script.

One exec reads the state and detects the manager (systemd when `/run/systemd/system` exists and
`systemctl` is there; else the init script `SERVICE_INIT_DIR/NAME`, the host var `service_init_dir`,
default /etc/init.d); one more acts, only if something must change. The name is checked to be a
service name (no slashes, no shell characters) and is shell-quoted anyway, as is the init directory.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from rmmctl.errors import CommandTimeout
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register

DEFAULT_INIT_DIR = "/etc/init.d"
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@:+-]{0,254}")

# systemctl is-active / is-enabled words (systemctl(1)): what counts as running, enabled, disabled.
RUNNING = frozenset({"active", "reloading", "activating", "refreshing"})
ENABLED = frozenset({"enabled", "enabled-runtime", "alias"})
DISABLED = frozenset({"disabled"})

_STATE_SCRIPT = (
    'n=$1; d=$2; '
    'if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then '
    'echo systemd; echo "active=$(systemctl is-active -- "$n" 2>/dev/null | head -n1)"; '
    'echo "enabled=$(systemctl is-enabled -- "$n" 2>/dev/null | head -n1)"; '
    'elif [ -f "$d/$n" ]; then echo init; '
    'if [ -x "$d/$n" ]; then "$d/$n" status </dev/null >/dev/null 2>&1; echo "status=$?"; else echo status=noexec; fi; '
    'else echo none; fi'
)


@dataclass(frozen=True, slots=True)
class ServiceState:
    manager: str  # "systemd" | "init"
    running: bool
    enabled: bool | None  # None: unknown or not switchable (static, masked, an init script)
    detail: str = ""  # the raw words, for the message


class _Failed(Exception):
    """The module's one-line failure."""


def parse_systemd(active: str, enabled: str) -> ServiceState:
    """The state from `systemctl is-active NAME` and `systemctl is-enabled NAME` outputs (first lines)."""
    active, enabled = active.strip(), enabled.strip()
    if enabled in ("", "not-found") and active in ("", "inactive", "unknown"):
        raise _Failed("no such unit (systemctl is-enabled: " + (enabled or "nothing") + ")")
    on = True if enabled in ENABLED else False if enabled in DISABLED else None
    return ServiceState("systemd", active in RUNNING, on, f"is-active {active or '?'}, is-enabled {enabled or '?'}")


def parse_state(stdout: str, name: str, init_dir: str) -> ServiceState:
    """The state script's answer: the manager and what it says."""
    lines = stdout.splitlines()
    kind = lines[0].strip() if lines else ""
    fields = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    if kind == "systemd":
        return parse_systemd(fields.get("active", ""), fields.get("enabled", ""))
    if kind == "init":
        status = fields.get("status", "").strip()
        script = f"{init_dir.rstrip('/')}/{name}"
        if status == "noexec":
            raise _Failed(f"{script} is not executable")
        if status == "0":
            return ServiceState("init", True, None, "status exit 0")
        if status in ("1", "2", "3"):  # LSB: dead with a pidfile, dead with a lock, not running
            return ServiceState("init", False, None, f"status exit {status}")
        raise _Failed(f"{script} status: exit {status or '?'} (service status unknown)")
    if kind == "none":
        raise _Failed(f"no such service: no systemd here and no init script {init_dir.rstrip('/')}/{name}")
    raise _Failed(f"unexpected answer reading the service state: {stdout[:80]!r}")


def plan_actions(st: ServiceState, state: str | None, enabled: bool | None) -> list[str]:
    """What must be done, in order: enable/disable first, then start/stop/restart/reload."""
    actions: list[str] = []
    if enabled is not None:
        if st.manager != "systemd":
            raise _Failed("enabled is not supported for init scripts (set it with update-rc.d, chkconfig or rc-update)")
        if st.enabled is None:
            raise _Failed(f"cannot {'enable' if enabled else 'disable'} it: {st.detail}")
        if st.enabled != enabled:
            actions.append("enable" if enabled else "disable")
    if state == "started" and not st.running:
        actions.append("start")
    elif state == "stopped" and st.running:
        actions.append("stop")
    elif state == "restarted":
        actions.append("restart")
    elif state == "reloaded":
        actions.append("reload" if st.running else "start")  # as Ansible: reloading a stopped service starts it
    return actions


def _action_line(st: ServiceState, name: str, init_dir: str, actions: list[str]) -> str:
    if st.manager == "systemd":
        parts = [f"systemctl {a} -- {shlex.quote(name)}" for a in actions]
    else:
        script = shlex.quote(f"{init_dir.rstrip('/')}/{name}")
        parts = [f"{script} {a} </dev/null" for a in actions]
    return " && ".join(parts)


def _service(call: ModuleCall) -> TaskResult:
    args = call.args
    name, state, enabled = args["name"], args["state"], args["enabled"]
    init_dir = str(call.ctx.host.vars.get("service_init_dir") or DEFAULT_INIT_DIR)
    data: dict = {"name": name}
    try:
        line = f"sh -c {shlex.quote(_STATE_SCRIPT)} sh {shlex.quote(name)} {shlex.quote(init_dir)}"
        result = call.run(line, audit_as=f"service state {shlex.quote(name)}")
        if result.exit_code != 0:
            raise _Failed(f"cannot read the state of {name}: "
                          f"{(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")
        st = parse_state(result.stdout, name, init_dir)
        data.update(manager=st.manager, running=st.running, enabled=st.enabled)
        actions = plan_actions(st, state, enabled)
        data["actions"] = actions
        if not actions:
            return TaskResult("ok", f"{name} is as wanted ({st.manager}: "
                              f"{'running' if st.running else 'stopped'})", data)
        what = ", ".join(actions)
        if call.check:
            return TaskResult("changed", f"would {what} {name} ({st.manager}; check mode)",
                              {**data, "check_mode": True})
        act = call.run(_action_line(st, name, init_dir, actions))
        if act.exit_code != 0:
            last = (act.stderr.strip() or act.stdout.strip()).splitlines()[-1:] or [""]
            return TaskResult("failed", f"{what} {name}: rc={act.exit_code}: {last[0][:200]}",
                              {**data, "rc": act.exit_code})
        return TaskResult("changed", f"{what} {name} ({st.manager})", data)
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}", data)
    except _Failed as exc:
        return TaskResult("failed", f"{name}: {exc}", data)


def _service_rules(args: dict) -> None:
    if not NAME_RE.fullmatch(str(args["name"])):
        raise ArgProblem("name", f"got {args['name']!r}",
                         "expected a service name (letters, digits, _ . @ : + -; no slashes or shell characters)")
    if args["state"] is None and args["enabled"] is None:
        raise ArgProblem("state", "give state or enabled (or both)", "expected e.g. `state: started`")


register(ModuleSpec(
    "service", "posix",
    (Arg("name", required=True, help="the service (systemd unit or init script name)"),
     Arg("state", choices=("started", "stopped", "restarted", "reloaded"),
         help="started/stopped: only if not already; restarted/reloaded: always"),
     Arg("enabled", "bool", help="start at boot (systemd only)")),
    "plan", _service, "start, stop, restart, reload, enable or disable a service (changed only if it changed)",
    validate=_service_rules,
))
