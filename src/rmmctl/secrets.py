"""Secrets: resolved at connect time from env, a command or the OS keyring, never from the inventory
file itself, and redacted from everything rmmctl writes (logs, JSON, history)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable

from rmmctl.errors import CommandTimeout, ConfigError

SECRET_CMD_TIMEOUT_S = 30.0  # a *_cmd gets at most this long, and never past the host's deadline

REDACTED = "********"


class Redactor:
    """Collects every secret value resolved during a run and masks it in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3:  # masking 1-2 char strings would shred normal text
            with self._lock:
                self._secrets.add(secret)

    @property
    def empty(self) -> bool:
        """True while no secret is known: masking would change nothing."""
        return not self._secrets

    def __call__(self, text: str) -> str:
        if not text or not self._secrets:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text


def resolve_secret(
    host: str,
    *,
    env: str | None = None,
    cmd: str | None = None,
    keyring_ref: str | None = None,
    what: str = "password",
    redactor: Redactor | None = None,
    deadline: float | None = None,
    children: SecretCommands | None = None,
) -> str | None:
    """Return the secret named by one of env / cmd / keyring ("service/username"), or None if none set.

    A `cmd` runs in its own process group, killed whole (SIGKILL) when it outlives
    SECRET_CMD_TIMEOUT_S or the `deadline` (time.monotonic()), raising CommandTimeout; `children`
    tracks it so an interrupted run can kill it too.
    """
    value: str | None = None
    if env:
        if env not in os.environ:
            raise ConfigError(f"{host}: {what}_env names ${env}, which is not set; export it or change the inventory")
        value = os.environ[env]
    elif cmd:
        value = _run_secret_cmd(host, cmd, what, deadline, children or SecretCommands())
    elif keyring_ref:
        value = _from_keyring(host, keyring_ref, what)
    if redactor is not None:
        redactor.add(value)
    return value


class SecretCommands:
    """The *_cmd processes one host has running, so closing its connection can kill them (Ctrl-C)."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.killed: set[subprocess.Popen[str]] = set()

    def add(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.discard(proc)
            self.killed.discard(proc)

    def kill(self) -> None:
        """Kill the process group of every command running now."""
        with self._lock:
            for proc in self._procs:
                _kill_group(proc)
                self.killed.add(proc)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the command's own (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def _run_secret_cmd(host: str, cmd: str, what: str, deadline: float | None, children: SecretCommands) -> str:
    limit = SECRET_CMD_TIMEOUT_S if deadline is None else min(SECRET_CMD_TIMEOUT_S, deadline - time.monotonic())
    if limit <= 0:
        raise CommandTimeout(f"{host}: the host's deadline passed before {what}_cmd could run")
    proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    children.add(proc)
    try:
        out, _ = proc.communicate(timeout=limit)
        if proc in children.killed:
            raise CommandTimeout(f"{host}: {what}_cmd was killed (the run was interrupted)")
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()  # reaped; its pipes are closed below without waiting for an escaped grandchild
        raise CommandTimeout(f"{host}: {what}_cmd did not finish within {limit:.1f} s; killed") from None
    finally:
        children.discard(proc)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if proc.returncode != 0:
        raise ConfigError(f"{host}: {what}_cmd exited {proc.returncode}; run it by hand to see why")
    return out.rstrip("\n")


def _from_keyring(host: str, ref: str, what: str) -> str:
    service, _, username = ref.partition("/")
    if not username:
        raise ConfigError(f"{host}: {what}_keyring must be 'service/username', got {ref!r}")
    try:
        import keyring  # optional dependency: pip install 'rmmctl[keyring]'
    except ImportError:
        raise ConfigError(f"{host}: {what}_keyring needs the keyring package: pip install 'rmmctl[keyring]'") from None
    value = keyring.get_password(service, username)
    if value is None:
        raise ConfigError(f"{host}: no {what} in the OS keyring for service {service!r} user {username!r}")
    return value


def redact_obj(obj: Any, redact: Callable[[str], str]) -> Any:
    """Every string in a JSON-like structure (keys too) passed through the redactor (the structure itself
    when the redactor knows no secret yet)."""
    if getattr(redact, "empty", False):
        return obj
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {redact(str(k)): redact_obj(v, redact) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v, redact) for v in obj]
    return obj


# -- secrets on a command line -------------------------------------------------------------------
# A run's argv is written to the history before any host connects, so before the Redactor knows the
# secrets it will resolve. Two defences, both applied by the store at begin_run and on every later write:
# `learn_secrets` registers every secret that is known without side effects (literal inventory values and
# the variables that *_env names) up front; `mask_argv` masks the values of secret-looking options,
# assignments, -e NAME=VALUE, URL passwords and Authorization headers, and teaches the Redactor those values
# so the same text is masked in host output and audit rows too.

_WORDS = r"(?:pass(?:word|wd|phrase)|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)"
_NOT_SECRET = frozenset({"file", "path", "dir", "env", "cmd", "command", "keyring", "type", "prompt", "stdin",
                         "length", "len", "min", "max", "url"})
_QUOTED = r"\"[^\"]*\"|'[^']*'"
# Every pattern is linear in the text (a command line can be a long script): a name is taken whole with a
# possessive quantifier at the start of a token and judged by _secret_name, never searched for inside.
_KEY_VALUE = re.compile(  # --password=x  PASSWORD=x  "db_password": "x"  token: x
    rf"(?<![\w.-])([\w.-]++)([\"']?\s*+[:=]\s*+)({_QUOTED}|[^\s\"',;&|}}]++)")
_FLAG_SPACE = re.compile(  # inside a shell line: --password x
    rf"(?<![\w.-])(--?[\w.-]++)(\s++)({_QUOTED}|[^\s\"'-][^\s;&|]*+)")
_ENV_FLAG = re.compile(  # -e NAME=VALUE, --env NAME=VALUE, --extra-vars k=v, --build-arg, --set
    rf"(?<![\w-])(-e|--env|--extra-vars?|--build-arg|--set)([=\s]++[A-Za-z_][\w.]*+=)({_QUOTED}|[^\s;&|]++)")
_URL_PASSWORD = re.compile(r"(?<![\w+.-])([a-zA-Z][\w+.-]{0,30}://[^/\s:@]{1,256}:)([^@\s/]{1,256})(@)")
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*+(?:bearer|basic|token|digest)?\s*+|\bbearer\s++)([^\s\"']++)")
_MYSQL_P = re.compile(r"(?i)(\b(?:mysql\w*+|mariadb\w*+)\b[^|;&\n]{0,200}?\s-p)([^\s\"';&|]++)")
_ENV_FLAGS = ("-e", "--env", "--extra-vars", "--extra-var", "--build-arg", "--set")


def _secret_name(name: str) -> bool:
    parts = {p for p in re.split(r"[-_.\s\"']+", name.lower()) if p}
    if parts & _NOT_SECRET:
        return False  # --password-file PATH, password_env NAME: not the secret itself
    return bool(re.search(_WORDS, name, re.IGNORECASE)) or bool(parts & {"pw", "pwd", "pass"})


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


def mask_text(text: str, redactor: Redactor | None = None) -> str:
    """One argument or shell line with the values of secret-looking options and assignments masked."""
    learned: list[str] = []

    def sub(learn: bool, check: bool = True) -> Callable[[re.Match[str]], str]:
        def replace(m: re.Match[str]) -> str:
            if check and m.re in (_KEY_VALUE, _FLAG_SPACE) and not _secret_name(m.group(1).lstrip("-")):
                return m.group(0)
            value = m.group(m.re.groups if m.re is not _URL_PASSWORD else 2)
            if value == REDACTED:
                return m.group(0)
            if learn:
                learned.append(_unquote(value))
            start, end = m.span(m.re.groups if m.re is not _URL_PASSWORD else 2)
            return m.group(0)[: start - m.start()] + REDACTED + m.group(0)[end - m.start():]
        return replace

    for pattern, learn in ((_URL_PASSWORD, True), (_AUTH_HEADER, True), (_MYSQL_P, True), (_ENV_FLAG, False),
                           (_KEY_VALUE, True), (_FLAG_SPACE, True)):
        text = pattern.sub(sub(learn), text)
    if redactor is not None:
        for value in learned:
            if len(value) >= 4:
                redactor.add(value)
    return text


def mask_argv(argv: Sequence[str], redactor: Redactor | None = None) -> list[str]:
    """A command line as it may be stored or shown: known secrets redacted, and the value after a secret-looking
    option (`--password X`, `-e NAME=X`, `mysql -pX`) masked; values found are taught to `redactor`."""
    out: list[str] = []
    mysql = False
    for i, raw in enumerate(argv):
        arg = str(raw)
        prev = out[-1] if out else None
        prev_raw = str(argv[i - 1]) if i else ""
        if prev is not None and prev_raw in _ENV_FLAGS and "=" in arg and not arg.startswith("-"):
            name, _, value = arg.partition("=")
            if redactor is not None and _secret_name(name) and len(value) >= 4:
                redactor.add(value)
            arg = f"{name}={REDACTED}" if value else arg
        elif (prev_raw.startswith("-") and "=" not in prev_raw and arg != "--"
              and _secret_name(prev_raw.lstrip("-")) and re.fullmatch(r"-{1,2}[\w.-]*", prev_raw)):
            if redactor is not None and len(arg) >= 4:
                redactor.add(arg)
            arg = REDACTED
        elif mysql and re.fullmatch(r"-p.+", arg):
            if redactor is not None and len(arg) >= 6:
                redactor.add(arg[2:])
            arg = "-p" + REDACTED
        else:
            arg = mask_text(arg, redactor)
        mysql = mysql or os.path.basename(str(raw)).lower().startswith(("mysql", "mariadb"))
        out.append(arg)
    if redactor is not None:
        out = [redactor(a) for a in out]
    return out


_SECRET_VARS = ("password", "become_password")
_SECRET_ENV_VARS = ("password_env", "become_password_env", "key_passphrase_env")


def learn_secrets(hosts: Iterable[Any], redactor: Redactor) -> None:
    """Teach `redactor` every secret of these hosts that is known without running anything: literal
    password vars and the values of the environment variables their *_env vars name. (A password_cmd or
    keyring secret is only known once it is resolved, at that host's connect.)"""
    for host in hosts:
        variables = getattr(host, "vars", {}) or {}
        for key in _SECRET_VARS:
            if variables.get(key):
                redactor.add(str(variables[key]))
        for key in _SECRET_ENV_VARS:
            name = variables.get(key)
            if name and os.environ.get(str(name)):
                redactor.add(os.environ[str(name)])
