"""Where an SSH connection goes: inventory fields first, then ~/.ssh/config, then defaults.

Resolves HostName, Port, User, IdentityFile and ProxyJump (a `[user@]host[:port]` chain, comma
separated; `none` disables one set in ssh_config) into the list of hops to dial, jump hosts first.
The proxy-jump grammar (`split_jump`) is the one the inventory validates with too. paramiko is
imported only when an ssh_config is read, so the inventory can use the grammar without loading it.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmmctl.errors import ConfigError

if TYPE_CHECKING:
    import paramiko  # type: ignore[import-untyped]

    from rmmctl.inventory.model import Host

# One hop of a proxy-jump chain: [ssh://][user@]host[:port], host a name, an IPv4 or a [v6] address.
JUMP_HOP = re.compile(
    r"(?:ssh://)?(?:(?P<user>[^@\s,/]+)@)?"
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|(?P<host>[^@\s,:\[\]/]+))"
    r"(?::(?P<port>\d{1,5}))?"
)


@dataclass(frozen=True, slots=True)
class Hop:
    """One SSH server on the way to a host: what we dial, who we are there, how we name it."""

    label: str  # for messages: "web01" or "web01: jump host bastion"
    name: str  # what `rmmctl hostkeys` commands should be given
    address: str
    port: int
    user: str
    identity_files: tuple[Path, ...] = field(default=())  # IdentityFile from ssh_config
    identities_only: bool = False  # IdentitiesOnly yes: no agent, no default keys


def split_jump(hop: str) -> tuple[str | None, str, int | None] | None:
    """One proxy-jump hop as (user, host, port), or None if it is not `[user@]host[:port]` with a port
    of 1..65535. The only proxy-jump grammar: inventory validation and the transport both use it."""
    m = JUMP_HOP.fullmatch(hop.strip())
    if not m:
        return None
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 1 <= port <= 65535:
        return None
    return m["user"], m["v6"] or m["host"], port


def load_ssh_config(path: Path | None) -> paramiko.SSHConfig:
    """Parse the given ssh_config (default ~/.ssh/config); an empty config if there is none."""
    import paramiko  # type: ignore[import-untyped]

    path = path or Path("~/.ssh/config").expanduser()
    if not path.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except (OSError, ValueError, paramiko.SSHException) as exc:
        raise ConfigError(f"{path}: cannot read this ssh config: {exc}") from None


def _lookup(cfg: paramiko.SSHConfig, alias: str, source: str) -> dict[str, Any]:
    if not cfg.get_hostnames():
        return {}  # no config: skip paramiko's lookup (getpwuid + gethostname per host)
    try:
        return dict(cfg.lookup(alias))
    except Exception as exc:  # noqa: BLE001 - paramiko raises many types for odd Match/Include lines
        raise ConfigError(f"{source}: ssh config lookup for {alias!r} failed: {exc}") from None


def resolve_hops(host: Host, cfg: paramiko.SSHConfig) -> list[Hop]:
    """The hops to dial for `host`: its ProxyJump chain (if any), then the host itself."""
    conf = _lookup(cfg, host.address, host.name)
    user = str(host.user or conf.get("user") or getpass.getuser())
    target = Hop(
        label=host.name,
        name=host.name,
        address=str(conf.get("hostname") or host.address),
        port=int(host.port or conf.get("port") or 22),
        user=user,
        identity_files=_identities(conf),
        identities_only=_yes(conf, "identitiesonly"),
    )
    spec = host.var("proxy_jump")
    if spec is None:
        spec = conf.get("proxyjump")
    return [*_jumps(host.name, spec, cfg, user), target]


def _identities(conf: dict[str, Any]) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in conf.get("identityfile", []))


def _yes(conf: dict[str, Any], key: str) -> bool:
    return str(conf.get(key, "no")).lower() == "yes"


def parse_jump(spec: str, source: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` (also `ssh://...` and `[v6addr]:port`) as (user, host, port)."""
    parts = split_jump(spec)
    if parts is None:
        raise ConfigError(f"{source}: proxy_jump entry {spec!r} is not [user@]host[:port]")
    return parts


def _jumps(name: str, spec: Any, cfg: paramiko.SSHConfig, default_user: str) -> list[Hop]:
    if spec is None or str(spec).strip().lower() in ("", "none"):
        return []
    items = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
    hops = []
    for item in items:
        user, alias, port = parse_jump(str(item), name)
        conf = _lookup(cfg, alias, name)
        hops.append(Hop(
            label=f"{name}: jump host {alias}",
            name=alias,
            address=str(conf.get("hostname") or alias),
            port=int(port or conf.get("port") or 22),
            user=str(user or conf.get("user") or default_user),
            identity_files=_identities(conf),
            identities_only=_yes(conf, "identitiesonly"),
        ))
    return hops
