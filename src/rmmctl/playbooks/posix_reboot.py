"""The POSIX `reboot` and `wait_for` modules (Ansible's argument names).

`reboot` reads the boot id (`boot_time_command`), runs the reboot command, then reconnects
(`HostContext.reconnect`: the transport closed and opened again, audited) until the host answers with
a NEW boot id and `test_command` succeeds, all within `reboot_timeout`. `only_if_required: true` asks
the probe's reboot section first (/run/reboot-required, or `needs-restarting -r` on RHEL-likes), the
same facts the `reboot.required` check judges. Every command argument is split into words like
`command:` and each word is quoted: a templated value is data, never shell.

`wait_for` runs ON the host: one exec of a bounded sh loop (`timeout` + `delay` + a margin) that tests
a port (bash's /dev/tcp, else nc) or a path, so "the host itself" is 127.0.0.1 seen from the host.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Any

from rmmctl.facts import unavailable_reason
from rmmctl.errors import AuthError, CommandTimeout, ConnectError, HostKeyError
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register

DEFAULT_BOOT_TIME_COMMAND = "cat /proc/sys/kernel/random/boot_id"
DEFAULT_MSG = "Reboot initiated by rmmctl"
COMMAND_S = 30.0  # one test or boot-id command after the reboot (bounded by the deadline too)


def _words(line: str) -> str:
    """A user's command line as quoted words (like `command:`): no pipes, no $vars, no $(...)."""
    return shlex.join(shlex.split(line))


def _last(result: Any) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return (text[-1] if text else f"rc={result.exit_code}")[:200]


def reboot_required(call: ModuleCall) -> tuple[bool | None, str, list[str]]:
    """(required, why, packages) from the probe's reboot section; required None when it cannot tell."""
    from rmmctl import probes

    facts = probes.collect(call.ctx, ["reboot"])
    data = facts.available("reboot")
    if data is None:
        raw = facts.get("reboot")
        reason = facts.errors.get("reboot") or unavailable_reason(raw)
        return None, str(reason or "the probe gave no reboot section"), []
    method = str(data.get("method"))
    source = "/run/reboot-required" if method == "reboot-required" else "needs-restarting -r"
    return bool(data.get("required")), source, list(data.get("packages") or [])


def shutdown_line(args: dict[str, Any]) -> str:
    """The reboot command: `reboot_command` as words, else `shutdown -r +MIN MSG` (Ansible's default:
    pre_reboot_delay in whole minutes, rounded down)."""
    if args["reboot_command"]:
        return _words(args["reboot_command"])
    return shlex.join(["shutdown", "-r", f"+{int(args['pre_reboot_delay']) // 60}", args["msg"] or DEFAULT_MSG])


def _boot_id(call: ModuleCall, line: str, end: float) -> str:
    result = call.ctx.run(line, become=call.become, timeout=max(0.5, min(COMMAND_S, end - time.monotonic())))
    if result.exit_code != 0 or not result.stdout.strip():
        raise _NotYet(f"boot_time_command: {_last(result)}")
    return result.stdout.strip()


class _NotYet(Exception):
    """This attempt did not see the host back (yet): the reason, for the message at the deadline."""


def _attempt(call: ModuleCall, before: str, end: float) -> str:
    """One try after the reboot: reconnect, read the boot id, run test_command. Returns the new boot id."""
    args = call.args
    call.ctx.reconnect()
    now = _boot_id(call, _words(args["boot_time_command"]), end)
    if now == before:
        raise _NotYet(f"the host answers with the old boot id {before[:40]} (not rebooted yet)")
    test = call.ctx.run(_words(args["test_command"]), become=call.become,
                        timeout=max(0.5, min(COMMAND_S, end - time.monotonic())))
    if test.exit_code != 0:
        raise _NotYet(f"test_command: {_last(test)}")
    return now


def _pause(call: ModuleCall, seconds: float) -> None:
    """Sleep, in short slices: a run being stopped (Ctrl-C) does not wait for the whole pause."""
    end = time.monotonic() + seconds
    while not call.ctx.stopping and time.monotonic() < end:
        time.sleep(min(0.25, max(0.0, end - time.monotonic())))


def _wait_back(call: ModuleCall, before: str, started: float, end: float) -> TaskResult:
    args, tries, last = call.args, 0, "no answer yet"
    while True:
        if call.ctx.stopping:
            return TaskResult("failed", "interrupted while waiting for the host to come back")
        try:
            after = _attempt(call, before, end)
            elapsed = time.monotonic() - started
            return TaskResult("changed", f"rebooted in {elapsed:.1f} s (boot id {before[:8]} -> {after[:8]})",
                              {"rebooted": True, "elapsed": int(elapsed), "boot_id_before": before,
                               "boot_id_after": after, "attempts": tries + 1})
        except HostKeyError as exc:
            return TaskResult("failed", f"the host came back with another host key: {exc}"[:300])
        except (_NotYet, ConnectError, AuthError, CommandTimeout) as exc:
            last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        tries += 1
        pause = min(5.0, 0.5 * 2 ** min(tries, 4))
        if time.monotonic() + pause >= end:
            return TaskResult("failed", f"the host did not come back with a new boot id within "
                              f"{args['reboot_timeout']} s (reboot_timeout); last: {last}"[:300],
                              {"rebooted": False, "elapsed": int(time.monotonic() - started), "boot_id_before": before,
                               "attempts": tries})
        _pause(call, pause)


def _reboot(call: ModuleCall) -> TaskResult:
    args = call.args
    line = shutdown_line(args)
    data: dict[str, Any] = {"rebooted": False, "elapsed": 0, "command": call.ctx.redact(line)}
    if call.ctx.host.connection == "local":  # as Ansible: never the control machine
        return TaskResult("failed", "running reboot with the local connection would reboot the machine rmmctl "
                          "runs on; refused", data)
    try:
        why = "reboot requested"
        if args["only_if_required"]:
            required, source, packages = reboot_required(call)
            data.update(required=required, packages=packages)
            if required is None:
                return TaskResult("failed", f"cannot tell whether a reboot is required: {source}", data)
            if not required:
                return TaskResult("ok", f"no reboot required ({source})", data)
            why = f"{source} says so" + (f" ({', '.join(packages[:3])})" if packages else "")
        if call.check:
            return TaskResult("changed", f"would reboot: {why} (check mode)", {**data, "check_mode": True})
        started = time.monotonic()
        end = started + int(args["reboot_timeout"])
        if call.ctx.deadline is not None:
            end = min(end, call.ctx.deadline)
        try:
            before = _boot_id(call, _words(args["boot_time_command"]), end)
        except _NotYet as exc:
            return TaskResult("failed", f"cannot read the boot id before rebooting: {exc}", data)
        try:
            done = call.ctx.run(line, become=call.become, timeout=max(1.0, min(60.0, end - time.monotonic())))
            if done.exit_code != 0:
                return TaskResult("failed", f"reboot command failed: rc={done.exit_code}: {_last(done)}",
                                  {**data, "rc": done.exit_code})
        except (ConnectError, CommandTimeout):
            pass  # the host went down under the command: that is the reboot
        if args["post_reboot_delay"]:
            _pause(call, min(float(args["post_reboot_delay"]), max(0.0, end - time.monotonic())))
        result = _wait_back(call, before, started, end)
        return TaskResult(result.status, result.msg, {**data, **result.data, "command": data["command"]})
    except CommandTimeout as exc:  # before the reboot command ran (the probe, the first boot id)
        return TaskResult("failed", f"timed out: {exc}", data)


def _reboot_rules(args: dict[str, Any]) -> None:
    for name in ("reboot_timeout", "pre_reboot_delay", "post_reboot_delay"):
        if args[name] < 0:
            raise ArgProblem(name, f"got {args[name]}", "expected 0 or more seconds")
    if args["reboot_timeout"] < 1:
        raise ArgProblem("reboot_timeout", f"got {args['reboot_timeout']}", "expected at least 1 second")
    for name in ("test_command", "boot_time_command", "reboot_command"):
        value = args[name]
        if value is None:
            continue
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ArgProblem(name, f"cannot split {value!r} into words: {exc}", "expected a command line") from None
        if not words:
            raise ArgProblem(name, "is empty", "expected a command line")


register(ModuleSpec(
    "reboot", "posix",
    (Arg("reboot_timeout", "int", default=600, help="seconds for the host to come back with a new boot id"),
     Arg("pre_reboot_delay", "int", default=0, help="seconds before the reboot (shutdown -r +MINUTES, rounded down)"),
     Arg("post_reboot_delay", "int", default=0, help="seconds to wait after the reboot command before checking"),
     Arg("test_command", default="whoami", help="must succeed once the host is back"),
     Arg("msg", default=DEFAULT_MSG, help="the message shutdown broadcasts"),
     Arg("reboot_command", help="the command that reboots (words, like command:); then msg and "
                                "pre_reboot_delay are not used"),
     Arg("boot_time_command", default=DEFAULT_BOOT_TIME_COMMAND,
         help="prints something that changes at every boot"),
     Arg("only_if_required", "bool", default=False,
         help="reboot only when /run/reboot-required (or needs-restarting -r) says so")),
    "plan", _reboot, "reboot and wait until the host is back with a new boot id (only_if_required: when needed)",
    validate=_reboot_rules,
))


# ---------------------------------------------------------------- wait_for

HOST_RE = re.compile(r"[A-Za-z0-9_.:%-]{1,253}")
MARGIN_S = 10.0  # the exec's own deadline beyond timeout + delay (connect attempts, process start)

# sh -c SCRIPT sh KIND TARGET PORT STATE REGEX TIMEOUT DELAY SLEEP CONNECT_TIMEOUT
# Prints "ok ELAPSED [MATCH]" and exits 0, or "timeout ELAPSED" and exits 1, or "error REASON" and exits 2.
_WAIT_SCRIPT = r'''
K=$1 T=$2 P=$3 S=$4 R=$5 TO=$6 D=$7 SL=$8 CT=$9
LC_ALL=C; export LC_ALL
now() { if read -r u _ </proc/uptime 2>/dev/null; then echo "${u%.*}"; else date +%s; fi; }
W=; command -v timeout >/dev/null 2>&1 && W="timeout $CT"
if [ "$K" = port ]; then
  if command -v bash >/dev/null 2>&1; then TCP=bash
  elif command -v nc >/dev/null 2>&1; then TCP=nc
  else echo "error wait_for needs bash or nc on the host to test a port"; exit 2; fi
fi
# open: 0 when T:P accepts a connection; with $1=read, the first read (up to 4 KiB) go to stdout
open() {
  if [ "$TCP" = bash ]; then
    if [ "$1" = read ]; then $W bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; dd bs=4096 count=1 <&3 2>/dev/null' sh "$T" "$P" 2>/dev/null
    else $W bash -c 'exec 3<>"/dev/tcp/$1/$2"' sh "$T" "$P" 2>/dev/null; fi
  else
    if [ "$1" = read ]; then nc -w "$CT" "$T" "$P" </dev/null 2>/dev/null | dd bs=4096 count=1 2>/dev/null
    else nc -z -w "$CT" "$T" "$P" </dev/null >/dev/null 2>&1; fi
  fi
}
check() {
  M=
  case $K$S in
    port*started|port*present)
      if [ -n "$R" ]; then
        M=$(open read | grep -Eo -m 1 -e "$R" 2>/dev/null) || return 1; [ -n "$M" ]
      else open; fi ;;
    port*stopped|port*absent) ! open ;;
    path*started|path*present)
      [ -e "$T" ] || return 1
      if [ -n "$R" ]; then M=$(grep -Eo -m 1 -e "$R" -- "$T" 2>/dev/null) || return 1; [ -n "$M" ]; fi ;;
    path*stopped|path*absent)
      if [ -n "$R" ]; then ! grep -Eq -e "$R" -- "$T" 2>/dev/null; else [ ! -e "$T" ]; fi ;;
    none*) return 1 ;;
  esac
}
[ "$D" -gt 0 ] && sleep "$D"
B=$(now); E=$((B + TO))
while :; do
  if check; then printf 'ok %s %s\n' "$(( $(now) - B ))" "$M"; exit 0; fi
  [ "$(now)" -ge "$E" ] && break
  sleep "$SL"
done
if [ "$K" = none ]; then printf 'ok %s \n' "$(( $(now) - B ))"; exit 0; fi
printf 'timeout %s\n' "$(( $(now) - B ))"; exit 1
'''


def _timeout_msg(args: dict[str, Any], target: str) -> str:
    """Ansible's wait_for failure messages."""
    state, regex = args["state"], args["search_regex"]
    if args["path"] is not None:
        if state in ("absent", "stopped"):
            return f"Timeout when waiting for {target} to be absent." if regex is None else \
                f"Timeout when waiting for {regex} to be absent in {target}"
        return f"Timeout when waiting for file {target}" if regex is None else \
            f"Timeout when waiting for search string {regex} in {target}"
    if state in ("absent", "stopped"):
        return f"Timeout when waiting for {target} to stop."
    return f"Timeout when waiting for {target}" if regex is None else \
        f"Timeout when waiting for search string {regex} in {target}"


def _wait_for(call: ModuleCall) -> TaskResult:
    args = call.args
    if args["path"] is not None:
        kind, target, shown = "path", args["path"], args["path"]
    elif args["port"] is not None:
        kind, target = "port", args["host"]
        shown = f"{target}:{args['port']}"
    else:
        kind, target, shown = "none", "", f"{args['timeout']} s"
    if call.check and kind == "none":
        return TaskResult("skipped", f"would wait {args['timeout']} s on the host (check mode)", {"elapsed": 0})
    # Check mode looks once, now: what it waits for may be what an earlier (planned, not done) task starts.
    timeout, delay = (0, 0) if call.check else (args["timeout"], args["delay"])
    words = [kind, target, str(args["port"] or 0), args["state"], args["search_regex"] or "",
             str(timeout), str(delay), f"{args['sleep']:g}", str(args["connect_timeout"])]
    line = f"sh -c {shlex.quote(_WAIT_SCRIPT)} sh {shlex.join(words)}"
    data: dict[str, Any] = {"state": args["state"], "path": args["path"], "port": args["port"],
                            "search_regex": args["search_regex"], "elapsed": 0}
    limit = timeout + delay + args["connect_timeout"] + MARGIN_S
    try:
        result = call.ctx.run(line, become=call.become, timeout=limit if call.timeout is None else call.timeout,
                              audit_as=f"wait_for {kind} {shlex.quote(shown)} {args['state']}")
    except CommandTimeout as exc:
        return TaskResult("failed", args["msg"] or f"wait_for did not end in time: {exc}", data)
    head = result.stdout.strip().splitlines()[-1:] or [""]
    word, _, rest = head[0].partition(" ")
    elapsed, _, match = rest.partition(" ")
    data["elapsed"] = int(elapsed) if elapsed.isdigit() else 0
    if word == "ok" and result.exit_code == 0:
        if match:
            data["match"] = match
        return TaskResult("ok", f"{shown} {args['state']} after {data['elapsed']} s", data)
    if word == "timeout" and call.check:
        return TaskResult("skipped", f"{shown} is not {args['state']} yet: a real run waits up to {args['timeout']} s "
                          "(check mode looks once)", {**data, "check_mode": True})
    if word == "timeout":
        return TaskResult("failed", args["msg"] or _timeout_msg(args, shown), data)
    if word == "error":
        return TaskResult("failed", rest, data)
    return TaskResult("failed", f"wait_for: unexpected answer (rc={result.exit_code}): {_last(result)}", data)


def _wait_rules(args: dict[str, Any]) -> None:
    if args["port"] is not None and args["path"] is not None:
        raise ArgProblem("port", "port and path are mutually exclusive", "give one of them")
    if args["port"] is not None and not 0 < args["port"] < 65536:
        raise ArgProblem("port", f"got {args['port']}", "expected a TCP port 1-65535")
    if not HOST_RE.fullmatch(str(args["host"])):
        raise ArgProblem("host", f"got {args['host']!r}", "expected a host name or an IP address")
    if args["path"] is not None and not str(args["path"]).startswith("/"):
        raise ArgProblem("path", f"got {args['path']!r}", "expected an absolute path on the host")
    if args["path"] is not None and ("\n" in args["path"] or "\0" in args["path"]):
        raise ArgProblem("path", "holds a newline or NUL", "expected a plain absolute path")
    for name in ("timeout", "delay", "connect_timeout"):
        if args[name] < 0:
            raise ArgProblem(name, f"got {args[name]}", "expected 0 or more seconds")
    if args["connect_timeout"] < 1:
        raise ArgProblem("connect_timeout", f"got {args['connect_timeout']}", "expected at least 1 second")
    if args["sleep"] < 1:
        raise ArgProblem("sleep", f"got {args['sleep']}", "expected at least 1 second between checks")
    if args["search_regex"] is not None and args["port"] is not None and args["state"] in ("stopped", "absent"):
        raise ArgProblem("search_regex", f"a port that should be {args['state']} sends nothing to match",
                         "drop search_regex, or wait for state: started")
    if args["search_regex"] is not None and "\n" in args["search_regex"]:
        raise ArgProblem("search_regex", "holds a newline", "expected one extended regular expression")


register(ModuleSpec(
    "wait_for", "posix",
    (Arg("host", default="127.0.0.1", help="the address to test, seen from the host (default: the host itself)"),
     Arg("port", "int", help="a TCP port"),
     Arg("path", help="a file (present/absent, or holding search_regex)"),
     Arg("state", choices=("started", "stopped", "present", "absent"), default="started"),
     Arg("timeout", "int", default=300, help="seconds to wait, on the host"),
     Arg("delay", "int", default=0, help="seconds before the first check"),
     Arg("sleep", "int", default=1, help="seconds between checks"),
     Arg("connect_timeout", "int", default=5, help="seconds for one connection attempt"),
     Arg("search_regex", help="an extended regular expression (grep -E) the file or the port's banner must hold"),
     Arg("msg", help="the message when it times out")),
    "plan", _wait_for, "wait on the host for a port or a file (read-only; runs in check mode too)",
    changes=False, validate=_wait_rules,
))
