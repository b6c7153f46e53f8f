"""`rmmctl doctor ssh HOST`: one SSH host diagnosed step by step, saying where it breaks and what to change.

The steps run in order and stop at the first failure (the later ones are `skip`): resolve (the address
after ssh_config HostName, and any ProxyJump hops by name), then for each hop tcp, banner (the server's
version, the key exchange), host key, auth (the methods the server offers, what of ours was tried),
then on the host a session (`echo`, its round trip), the shell (what rmmctl's wire needs: a POSIX sh,
`timeout`), sudo (for hosts with become set, or --become) and the probe (the os section, as `status`
sends it). Each step is the transport's own code (SSHTransport.connect with an observer), not a copy
of it. The host's status is what the failure would give in any other command (unreachable, timeout,
auth_failed: exit 6/7 through errors.exit_code_for; a failed command or probe: 5).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from rmmctl.api import RunSettings, execute
from rmmctl.errors import CommandTimeout, ConfigError, HostKeyError, RmmctlError, TransportError
from rmmctl.executor import HostContext, JobOutcome, classify
from rmmctl.inventory.model import Host, Inventory
from rmmctl.models import RunReport, Status
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport
from rmmctl.transports.ssh.config import Hop, load_ssh_config, resolve_hops

HOP_STEPS = ("tcp", "banner", "host key", "auth")
HOST_STEPS = ("session", "shell", "sudo", "probe")
MARK = "rmmctl-doctor"
BECOME_VARS = ("become", "ansible_become", "become_password", "become_password_env", "become_password_cmd")
# The shell step: what the login shell is, and the tools rmmctl's wire command line uses.
SHELL_CHECK = ('printf "%s\\n" "${SHELL:-?}"; for t in sh timeout sudo; do '
               'command -v "$t" >/dev/null 2>&1 && command -v "$t" || echo "$t: missing"; done')


@dataclass(slots=True)
class Steps:
    """The doctor's rows as they are learnt: step, status (ok, fail, skip), detail, fix."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def ok(self, step: str, detail: str, fix: str | None = None) -> None:
        self.rows.append({"step": step, "status": "ok", "detail": detail, "fix": fix})

    def fail(self, step: str, detail: str, fix: str) -> None:
        self.rows.append({"step": step, "status": "fail", "detail": detail, "fix": fix})

    def skip(self, step: str, detail: str) -> None:
        self.rows.append({"step": step, "status": "skip", "detail": detail, "fix": None})

    @property
    def failed(self) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["status"] == "fail"), None)


def _step_name(hop: Hop, step: str, hops: list[Hop]) -> str:
    """`tcp` for the target, `tcp (jump bastion)` for a jump host."""
    return step if hop == hops[-1] else f"{step} (jump {hop.name})"


def _fix(step: str, exc: BaseException, hop: Hop, host: Host) -> str:
    """What to change for a failure at `step` (the message of `exc` says what happened)."""
    text = str(exc)
    where = f"{hop.address}:{hop.port}"
    if step == "tcp":
        if "could not open a tunnel" in text:
            return (f"the jump host cannot reach {where}: check proxy_jump, that sshd listens there, and that the "
                    "jump host may forward (AllowTcpForwarding yes)")
        if "refused" in text:
            return (f"nothing listens on {where}: start sshd there (`systemctl start ssh`), or set the "
                    "host's port to the one sshd listens on")
        if isinstance(exc, CommandTimeout) or "no answer" in text:
            return (f"no answer from {where}: check that the host is up and that no firewall drops port "
                    f"{hop.port} (or raise --connect-timeout on a slow link)")
        if "unreachable" in text or "No route" in text:
            return f"no route to {hop.address}: check the address, the VPN or the network between us"
        return f"check the address and port of {hop.name}"
    if step == "banner":
        return (f"{where} accepts TCP but speaks no SSH in time: check that sshd (not another service) "
                "listens on that port and is not overloaded (MaxStartups)")
    if step == "host key":
        if "CHANGED" in text:
            return (f"if {hop.name} was really reinstalled: `rmmctl hostkeys forget {hop.name}`, then "
                    f"`rmmctl hostkeys scan {hop.name}` and `rmmctl hostkeys approve {hop.name}`; otherwise "
                    "do not connect: suspect a man-in-the-middle")
        if "revoked" in text:
            return f"the key is @revoked: remove that line only if {hop.name} got a new trusted key"
        return (f"`rmmctl hostkeys scan {hop.name}`, compare the fingerprint with the host's own "
                f"(`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` there), then `rmmctl hostkeys approve "
                f"{hop.name}` (or set host_key_policy: accept-new)")
    if step == "auth":
        return (f"add our public key to ~{hop.user}/.ssh/authorized_keys on {hop.name}, or point key_file at the "
                "key it has; for a password set password_env or password_cmd (and PasswordAuthentication yes "
                "in sshd_config)")
    return f"check {host.name}"


def _resolve(steps: Steps, host: Host, hops: list[Hop]) -> bool:
    """The resolve row: the first hop's address as the system resolver gives it, and the chain by name."""
    first = hops[0]
    chain = " -> ".join(f"{h.name} ({h.user}@{h.address}:{h.port})" for h in hops)
    renamed = f"; ssh_config HostName {hops[-1].address}" if hops[-1].address != host.address else ""
    try:
        infos = socket.getaddrinfo(first.address, first.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        steps.fail("resolve", f"cannot resolve {first.address!r} ({exc.strerror})",
                   f"check the address of {first.name} in the inventory (or its HostName in ssh_config), "
                   "and DNS")
        return False
    addresses = ", ".join(dict.fromkeys(str(i[4][0]) for i in infos))
    via = f"; through {len(hops) - 1} jump host(s), the target is resolved by the last one" if len(hops) > 1 else ""
    steps.ok("resolve", f"{chain}{renamed}; {first.address} is {addresses}{via}")
    return True


def _connect(steps: Steps, host: Host, transport: SSHTransport, hops: list[Hop]) -> BaseException | None:
    """Connect through the transport's own code, one row per step heard; the failure gets its fix."""
    heard: list[tuple[Hop, str]] = []

    def observe(hop: Hop, step: str, detail: str) -> None:
        heard.append((hop, step))
        steps.ok(_step_name(hop, step, hops), detail)

    try:
        transport.connect(observe=observe)
        return None
    except TransportError as exc:
        done = len(heard)
        hop = hops[min(done // len(HOP_STEPS), len(hops) - 1)]
        step = HOP_STEPS[done % len(HOP_STEPS)]
        if isinstance(exc, HostKeyError):
            step = "host key"
        steps.fail(_step_name(hop, step, hops), str(exc), _fix(step, exc, hop, host))
        return exc


def _session(steps: Steps, ctx: HostContext) -> bool:
    started = time.monotonic()
    result = ctx.run(f"echo {MARK}")
    rtt = (time.monotonic() - started) * 1000
    if result.ok and result.stdout.strip() == MARK:
        steps.ok("session", f"`echo {MARK}` came back in {rtt:.1f} ms")
        return True
    steps.fail("session", f"`echo` gave exit {result.exit_code}: {(result.stderr or result.stdout).strip()[:300]}",
               "the login shell does not run commands: check the user's shell (/etc/passwd), its rc files "
               "and any ForceCommand in sshd_config")
    return False


def _shell(steps: Steps, ctx: HostContext) -> bool:
    result = ctx.run(SHELL_CHECK)
    lines = result.stdout.splitlines()
    if not result.ok or len(lines) < 4:
        steps.fail("shell", f"the shell check gave exit {result.exit_code}: {result.stderr.strip()[:300]}",
                   "rmmctl needs a POSIX sh on the host: check the login shell and /bin/sh")
        return False
    login, sh, timeout, sudo = lines[:4]
    detail = f"login shell {login}, sh {sh}, timeout {timeout}, sudo {sudo}"
    if sh.endswith("missing"):
        steps.fail("shell", detail, "rmmctl's commands and probe run under sh: install a POSIX sh (dash, bash, busybox)")
        return False
    fix = None
    if timeout.endswith("missing"):
        fix = ("install coreutils (or busybox) for `timeout`: without it a command past its deadline is not "
               "killed on the host")
    steps.ok("shell", detail, fix)
    return True


def wants_become(host: Host) -> bool:
    """True if the host's vars set become or a sudo password: the sudo step applies."""
    return any(host.var(v) for v in BECOME_VARS)


def _sudo(steps: Steps, ctx: HostContext, check: bool) -> bool:
    if not check:
        steps.skip("sudo", "become is not set for this host (--become checks it anyway)")
        return True
    result = ctx.run("sudo -n true")
    if result.ok:
        steps.ok("sudo", f"sudo -n true: passwordless for {ctx.host.user or 'this user'}")
        return True
    if "not found" in result.stderr:
        steps.fail("sudo", "sudo is not installed", "install sudo and allow this user, or log in as root")
        return False
    try:
        with_password = ctx.run("true", become=True)
    except RmmctlError as exc:
        steps.fail("sudo", f"sudo needs a password and it could not be read: {exc}",
                   "set become_password_env or become_password_cmd")
        return False
    if with_password.ok:
        steps.ok("sudo", "sudo needs a password; the configured one works")
        return True
    steps.fail("sudo", f"sudo needs a password: {with_password.stderr.strip()[:200] or result.stderr.strip()[:200]}",
               "set become_password_env (or become_password_cmd) to the user's password, or give the user "
               "NOPASSWD in /etc/sudoers.d")
    return False


def _probe(steps: Steps, ctx: HostContext) -> bool:
    from rmmctl.facts import section, unavailable_reason
    from rmmctl.probes import collect

    started = time.monotonic()
    try:
        facts = collect(ctx, ("os",)).to_jsonable()
    except RmmctlError as exc:
        steps.fail("probe", str(exc), "run `rmmctl metrics HOST -vv` to see the probe's output")
        return False
    os_ = section(facts, "os") or {}
    error = facts["errors"].get("os") or unavailable_reason(facts.get("os") or {})
    if error or not os_:
        steps.fail("probe", f"the os section came back unusable: {error}",
                   "the host lacks /etc/os-release (or /usr/lib/os-release): check the OS install")
        return False
    steps.ok("probe", f"{os_.get('pretty_name')} (family {os_.get('family')}) in "
                      f"{(time.monotonic() - started) * 1000:.0f} ms")
    return True


_HOST_ERROR_STATUS = {"session": Status.FAILED, "shell": Status.FAILED, "sudo": Status.FAILED, "probe": Status.ERROR}


def doctor_job(options: TransportOptions, *, become: bool = False):  # noqa: ANN201
    """The doctor's executor job for one ssh host: every step a row; the status is the failure's."""

    def job(ctx: HostContext) -> JobOutcome:
        host, steps = ctx.host, Steps()
        hops = resolve_hops(host, options.cache.get(("ssh_config", options.ssh_config),
                                                    lambda: load_ssh_config(options.ssh_config)))
        status = _run_steps(steps, ctx, hops, become or wants_become(host))
        seen = {r["step"] for r in steps.rows}
        order = ["resolve", *(_step_name(h, s, hops) for h in hops for s in HOP_STEPS), *HOST_STEPS]
        steps.rows.extend({"step": s, "status": "skip", "detail": "not reached", "fix": None}
                          for s in order if s not in seen)
        steps.rows.sort(key=lambda r: order.index(r["step"]))
        failed = steps.failed
        return JobOutcome(status, {"transport": "ssh", "hops": [_hop(h) for h in hops], "steps": steps.rows,
                                   "failed_step": failed["step"] if failed else None})

    return job


def _hop(hop: Hop) -> dict[str, Any]:
    return {"name": hop.name, "address": hop.address, "port": hop.port, "user": hop.user}


def _run_steps(steps: Steps, ctx: HostContext, hops: list[Hop], become: bool) -> Status:
    host = ctx.host
    if not _resolve(steps, host, hops):
        return Status.UNREACHABLE
    transport = ctx.transport.inner  # type: ignore[attr-defined]
    failure = _connect(steps, host, transport, hops)
    if failure is not None:
        return classify(failure)[0]
    checks = (("session", lambda: _session(steps, ctx)), ("shell", lambda: _shell(steps, ctx)),
              ("sudo", lambda: _sudo(steps, ctx, become)), ("probe", lambda: _probe(steps, ctx)))
    for name, check in checks:
        try:
            if not check():
                return _HOST_ERROR_STATUS[name]
        except TransportError as exc:
            steps.fail(name, str(exc), "the connection broke or timed out after login: check the host's load "
                       "and sshd's MaxSessions; run again with -vv")
            return classify(exc)[0]
    return Status.OK


class Stepwise:
    """The executor's transport for a doctor: connect() waits for the job, which connects step by step
    on `inner` (the real transport); run and close go to it."""

    inner: Any
    name: str

    def connect(self) -> None:
        """Nothing yet: the doctor job connects `inner` itself, one step at a time."""

    def run(self, command: str, **kwargs: Any) -> Any:
        return self.inner.run(command, **kwargs)

    def close(self) -> None:
        self.inner.close()


class _StepwiseSSH(Stepwise):
    def __init__(self, host: Host, options: TransportOptions, *, deadline: float | None = None) -> None:
        self.name = host.name
        self.inner = SSHTransport(host, options, deadline=deadline)


def one_host(inventory: Inventory, pattern: str, settings: RunSettings, connection: str | tuple[str, ...],
             command: str | None = None) -> Host:
    """The one host that `pattern` names, of `connection` (one, or any of several): a doctor or a shell
    works on one host. ConfigError otherwise, naming `command` (default `doctor CONNECTION`)."""
    from rmmctl.api import resolve_hosts

    wanted = (connection,) if isinstance(connection, str) else tuple(connection)
    command = command or f"doctor {wanted[0]}"
    hosts = resolve_hosts(inventory, pattern, settings.limit)
    if len(hosts) != 1:
        names = ", ".join(h.name for h in hosts[:5]) + (" ..." if len(hosts) > 5 else "")
        raise ConfigError(f"{command.split()[0]} works on one host; {pattern!r} matches {len(hosts)}: {names}")
    if hosts[0].connection not in wanted:
        article = "an" if wanted[0] == "ssh" else "a"
        raise ConfigError(f"{hosts[0].name}: connection is {hosts[0].connection}; `rmmctl {command}` "
                          f"needs {article} {' or '.join(wanted)} host")
    return hosts[0]


def doctor_ssh(inventory: Inventory, pattern: str, settings: RunSettings, *, become: bool = False,
               **kw: Any) -> RunReport:
    """`rmmctl doctor ssh HOST`: the one ssh host `pattern` names, diagnosed step by step."""
    host = one_host(inventory, pattern, settings, "ssh")
    options = settings.transport_options(inventory)
    return execute("doctor ssh", inventory, host.name, doctor_job(options, become=become), settings,
                   opener=_StepwiseSSH, **kw)


__all__ = ["Steps", "doctor_job", "doctor_ssh", "wants_become"]
