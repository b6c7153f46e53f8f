"""Who we are on an SSH server: keys, agent, password, and the sudo password for `become`.

Auth order: the inventory's key_file (passphrase from the env var named by key_passphrase_env), the
hop's ssh_config IdentityFile, the ssh-agent, the default ~/.ssh keys (agent and defaults skipped under
`IdentitiesOnly yes`), then a password (vars password, password_env, password_cmd, password_keyring).
Secrets are resolved only when needed and always registered with the run's Redactor. A passphrase
given for a key that is not encrypted is not needed and not an error. The AuthError lists everything
that was tried, and every key that could not be used with the reason; the -vv trace logs each attempt
(method, key type and fingerprint, never a secret).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko  # type: ignore[import-untyped]

from rmmctl.errors import AuthError, CommandTimeout, ConnectError
from rmmctl.secrets import SecretCommands, resolve_secret
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh.config import Hop

if TYPE_CHECKING:
    from rmmctl.inventory.model import Host

log = logging.getLogger("rmmctl.transports.ssh")

DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
_KEY_ERRORS = (TypeError, ValueError, paramiko.SSHException, paramiko.pkey.UnknownKeyType)


class Credentials:
    """The secrets for one host, resolved lazily and cached for its whole ProxyJump chain."""

    def __init__(self, host: Host, options: TransportOptions) -> None:
        self._host = host
        self._cache = options.cache
        self._redactor = options.redactor
        self._keys: dict[Path, tuple[paramiko.PKey | None, str]] = {}
        self._password: tuple[str | None] | None = None
        self._agent: paramiko.Agent | None = None
        self.children = SecretCommands()  # running password_cmd processes, killed by interrupt()

    def _secret(self, what: str, end: float | None) -> str | None:
        h = self._host
        literal = h.var(what)
        if literal:
            self._redactor.add(str(literal))
            return str(literal)
        return resolve_secret(h.name, env=h.var(f"{what}_env"), cmd=h.var(f"{what}_cmd"),
                              keyring_ref=h.var(f"{what}_keyring"), what=what, redactor=self._redactor,
                              deadline=end, children=self.children)

    def password(self, end: float | None = None) -> str | None:
        """The login password (None if none is configured); a password_cmd must finish by `end`."""
        if self._password is None:
            self._password = (self._secret("password", end),)
        return self._password[0]

    def become_password(self, end: float | None = None) -> str | None:
        """The sudo password: become_password[_env|_cmd], else the login password, else None."""
        h = self._host
        if h.var("become_password") or h.var("become_password_env") or h.var("become_password_cmd"):
            return self._secret("become_password", end)
        return self.password(end)

    def interrupt(self) -> None:
        """Kill any password command still running (the run was interrupted)."""
        self.children.kill()

    def keys(self, hop: Hop, notes: list[str]) -> Iterator[tuple[str, paramiko.PKey]]:
        """(what, key) in auth order; keys that cannot be loaded go to `notes` as `key PATH (why)`."""
        key_file = self._host.var("key_file")
        explicit = ([Path(str(key_file)).expanduser()] if key_file else []) + list(hop.identity_files)
        for path in dict.fromkeys(explicit):
            key, why = self._load(path)
            if key is None:
                from_inventory = bool(key_file) and path == explicit[0]
                if from_inventory or why != "missing":  # ssh_config often names keys that do not exist
                    notes.append(f"key {path} ({why})")
                    log.debug("%s: key %s not usable (%s)", hop.label, path, why)
                continue
            yield f"key {path}", key
        if hop.identities_only:
            return
        yield from (("agent", k) for k in self._agent_keys())
        for name in DEFAULT_KEYS:
            path = Path("~/.ssh").expanduser() / name
            if path not in explicit and path.exists():
                key, _ = self._load(path)
                if key is not None:
                    yield f"key {path}", key

    def _load(self, path: Path) -> tuple[paramiko.PKey | None, str]:
        if path not in self._keys:
            self._keys[path] = self._read_key(path)
        return self._keys[path]

    def _read_key(self, path: Path) -> tuple[paramiko.PKey | None, str]:
        env = self._host.var("key_passphrase_env")
        passphrase = resolve_secret(self._host.name, env=env, what="key_passphrase", redactor=self._redactor)
        try:
            # One decode per key file and passphrase per run, shared by every host that uses it.
            return self._cache.get(("key", path, passphrase), lambda: _decode(path, passphrase)), ""
        except FileNotFoundError:
            return None, "missing"
        except OSError as exc:
            return None, str(exc.strerror or exc)
        except _KEY_ERRORS as exc:
            if isinstance(exc, TypeError) and not passphrase:
                return None, "encrypted: set key_passphrase_env"
            return None, "wrong passphrase or not a private key"

    def _agent_keys(self) -> tuple[Any, ...]:
        try:
            self._agent = self._agent or paramiko.Agent()
            return tuple(self._agent.get_keys())
        except (paramiko.SSHException, OSError):
            return ()

    def close(self) -> None:
        """Drop the ssh-agent connection (keys stay cached for a reconnect)."""
        if self._agent is not None:
            self._agent.close()
            self._agent = None


def _decode(path: Path, passphrase: str | None) -> paramiko.PKey:
    """A private key; a passphrase for a key that is not encrypted is ignored (one env var can serve
    a mix of encrypted and plain keys), paramiko's TypeError for it is not a wrong passphrase."""
    try:
        return paramiko.PKey.from_path(path, passphrase.encode() if passphrase else None)
    except TypeError:
        if not passphrase:
            raise  # encrypted, and no passphrase given
        return paramiko.PKey.from_path(path, None)  # given but not needed: the key is not encrypted


class _Abort(Exception):
    """The server ended authentication (connection closed, too many attempts)."""


def authenticate(t: paramiko.Transport, hop: Hop, creds: Credentials, end: float, *,
                 offered: list[str] | None = None) -> str:
    """Authenticate `hop.user` on an established transport and say with what ("key PATH", "agent",
    "password"), or raise AuthError listing what was tried. A list as `offered` (rmmctl doctor) gets the
    methods the server offers (one round trip more; the AuthError names them too)."""
    tried: list[str] = []  # what was offered to the server, and keys that could not be used (with why)
    notes: list[str] = []
    started = time.monotonic()
    try:
        if (offered is not None or log.isEnabledFor(logging.DEBUG)) and _server_methods(t, hop, end, offered):
            return _success(hop, "none (the server asked for no authentication)", started)
        if offered:
            notes.append(f"the server offers: {', '.join(offered)}")
        for what, key in creds.keys(hop, tried):
            log.debug("%s: auth: offering publickey %s (%s %s)", hop.label, what, key.get_name(),
                      key.fingerprint)
            tried.append(what)
            if _attempt(t, hop, end, functools.partial(t.auth_publickey, hop.user, key), notes):
                return _success(hop, what, started)
        password = creds.password(end)
        if password is not None:
            log.debug("%s: auth: trying password", hop.label)
            tried.append("password")
            if _attempt(t, hop, end, lambda: t.auth_password(hop.user, password), notes):
                return _success(hop, "password", started)
    except _Abort as exc:
        notes.append(str(exc))
    finally:
        creds.close()
    raise AuthError(_auth_message(hop, tried, notes))


def _server_methods(t: paramiko.Transport, hop: Hop, end: float, into: list[str] | None = None) -> bool:
    """-vv and doctor only (one more round trip, like OpenSSH's first `none` request): log the auth methods
    the server offers (and add them to `into`). True if `none` itself was accepted."""
    t.auth_timeout = max(end - time.monotonic(), 0.01)
    try:
        t.auth_none(hop.user)
    except paramiko.BadAuthenticationType as exc:
        log.debug("%s: auth: the server offers %s", hop.label, ", ".join(exc.allowed_types) or "nothing")
        if into is not None:
            into.extend(exc.allowed_types)
        return False
    except (paramiko.SSHException, EOFError, OSError):
        return False
    return bool(t.is_authenticated())


def _success(hop: Hop, what: str, started: float) -> str:
    log.info("%s: authenticated as %s with %s (%.0f ms)", hop.label, hop.user, what,
             (time.monotonic() - started) * 1000)
    return what


def _auth_message(hop: Hop, tried: list[str], notes: list[str]) -> str:
    counts = Counter(tried)
    parts = [f"{w} ({n} keys)" if n > 1 else w for w, n in counts.items()]
    summary = ", ".join(parts) or "nothing: no key_file, agent key or ~/.ssh key, and no password"
    extra = f"; {'; '.join(dict.fromkeys(notes))}" if notes else ""
    return (f"{hop.label}: authentication failed for user {hop.user} (tried: {summary}){extra}; check key_file "
            "and the server's authorized_keys, or set password_env/password_cmd")


def _attempt(t: paramiko.Transport, hop: Hop, end: float, call: Callable[[], object], notes: list[str]) -> bool:
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise CommandTimeout(f"{hop.label}: authentication did not finish before the deadline")
    if not t.is_active():
        raise _Abort("the server closed the connection (too many attempts? see MaxAuthTries)")
    t.auth_timeout = remaining
    try:
        call()
    except paramiko.BadAuthenticationType as exc:
        allowed = ", ".join(exc.allowed_types) or "none"
        log.debug("%s: auth: method refused; the server accepts: %s", hop.label, allowed)
        notes.append(f"the server accepts only: {allowed}")
        return False
    except paramiko.AuthenticationException as exc:
        if "timeout" in str(exc).lower():
            raise CommandTimeout(f"{hop.label}: the server did not answer authentication in time") from None
        log.debug("%s: auth: rejected", hop.label)
        return False
    except (paramiko.SSHException, EOFError) as exc:
        raise _Abort(f"the server ended authentication ({exc or type(exc).__name__})") from None
    except OSError as exc:
        raise ConnectError(f"{hop.label}: connection lost during authentication ({exc})") from None
    return bool(t.is_authenticated())
