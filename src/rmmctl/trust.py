"""Host-key trust for `rmmctl hostkeys`: scan without trusting, compare, approve, list, forget.

Which files are read and which one is written is decided in one place, transports/ssh/known_hosts.py
(`known_hosts_files`, `trust_file`), for these commands and for the SSH transport's accept-new alike.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from rmmctl.api import DEFAULT_CONNECT_TIMEOUT, RunSettings, execute
from rmmctl.errors import ConfigError
from rmmctl.executor import HostContext, JobOutcome
from rmmctl.inventory.model import Host, Inventory
from rmmctl.models import HostError, RunReport, Status
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import known_hosts as hostkeys
from rmmctl.transports.ssh.config import Hop, load_ssh_config, resolve_hops
from rmmctl.transports.ssh.scan import scan as scan_keys

_STATE_STATUS = {"known": Status.OK, "unknown": Status.WARN, "changed": Status.CRIT, "revoked": Status.CRIT}
_RANK = ["known", "unknown", "changed", "revoked"]


@dataclass(slots=True)
class _NoTransport:
    """Scanning needs no login: the executor gets a transport that does nothing."""

    name: str

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass


def _options(inventory: Inventory, settings: RunSettings) -> TransportOptions:
    return settings.transport_options(inventory)


def known_files(inventory: Inventory, settings: RunSettings, host: Host | None = None) -> list[Path]:
    """The known_hosts files consulted for a host, in order (the transport's own rule)."""
    return hostkeys.known_hosts_files(_options(inventory, settings), host)


def target_file(inventory: Inventory, settings: RunSettings, explicit: Path | None = None) -> Path:
    """Where approvals are written: --file, else the one trust file (the inventory's known_hosts, else
    ~/.ssh/known_hosts), the same file `host_key_policy: accept-new` writes to."""
    return explicit or hostkeys.trust_file(_options(inventory, settings))


def target_hop(host: Host, settings: RunSettings) -> Hop:
    """The endpoint to scan: the host itself after ssh_config; hosts behind a jump cannot be scanned directly."""
    if host.connection != "ssh":
        raise ConfigError(f"{host.name}: connection is {host.connection}; host keys apply to ssh hosts only")
    hops = resolve_hops(host, load_ssh_config(settings.ssh_config))
    if len(hops) > 1:
        raise ConfigError(f"{host.name}: behind proxy_jump {hops[0].name}; scan it from there or use "
                          "host_key_policy: accept-new for its first connection")
    return hops[-1]


def scan_job(inventory: Inventory, settings: RunSettings, timeout: float | None):  # noqa: ANN201
    """A job that fetches a host's keys and says, per key, whether it is known, unknown or changed.
    It ends by `timeout` (--connect-timeout, else the host's connect_timeout) or the host's deadline
    (--timeout), whichever is first."""

    def job(ctx: HostContext) -> JobOutcome:
        hop = target_hop(ctx.host, settings)
        limit = timeout or float(ctx.host.var("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
        found = scan_keys(hop.address, hop.port, timeout=limit, deadline=ctx.deadline)
        keys = [{"type": k.key_type, "fingerprint": k.fingerprint, "base64": k.base64} for k in found]
        return _judged(inventory, settings, ctx.host, hop.address, hop.port, keys)

    return job


def _judged(inventory: Inventory, settings: RunSettings, host: Host, address: str, port: int,
            keys: list[dict[str, Any]]) -> JobOutcome:
    """Each key's state (known, unknown, changed, revoked) against the files as they are now."""
    entries = hostkeys.entries_for(known_files(inventory, settings, host), address, port)
    judged = []
    for key in keys:
        verdict = hostkeys.verify(entries, base64.b64decode(key["base64"]))
        judged.append({**key, "state": verdict.state, "known_at": verdict.entry.where if verdict.entry else None})
    worst = max((k["state"] for k in judged), key=_RANK.index, default="unknown")
    return JobOutcome(_STATE_STATUS[worst], {"address": address, "port": port, "state": worst, "keys": judged})


def rejudge(report: RunReport, inventory: Inventory, settings: RunSettings) -> RunReport:
    """The scan report re-checked against the known_hosts files as they are now (after approve):
    no new connection, so the table shows what the next connection will trust."""
    hosts = []
    for result in report.hosts:
        if not result.data:
            hosts.append(result)
            continue
        keys = [{k: v for k, v in key.items() if k in ("type", "fingerprint", "base64")}
                for key in result.data["keys"]]
        outcome = _judged(inventory, settings, inventory.hosts[result.name], result.data["address"],
                          result.data["port"], keys)
        hosts.append(dataclasses.replace(result, status=outcome.status, data=outcome.data))
    return dataclasses.replace(report, hosts=tuple(hosts))


def scan(inventory: Inventory, pattern: str, settings: RunSettings, **kw: Any) -> RunReport:
    """`rmmctl hostkeys scan`: every selected ssh host's keys, trusted or not, nothing written."""
    job = scan_job(inventory, settings, settings.connect_timeout)
    return execute("hostkeys scan", inventory, pattern, job, settings, opener=_no_transport, **kw)


def approve(report: RunReport, file: Path) -> dict[str, int]:
    """Write every scanned `unknown` key to `file`; changed or revoked keys are never approved here."""
    added: dict[str, int] = {}
    for result in report.hosts:
        if result.status is not Status.WARN:
            continue
        keys = [hostkeys.ScannedKey(k["type"], k["base64"], k["fingerprint"])
                for k in result.data["keys"] if k["state"] == "unknown"]
        added[result.name] = hostkeys.approve(file, result.data["address"], result.data["port"], keys)
    return added


def after_approval(report: RunReport, added: dict[str, int]) -> RunReport:
    """The scan as it stands once `approve` wrote `added`: approved hosts are ok, and a changed or revoked
    key is the host-key failure it will be at the next login (so exit_code_for gives 7 for it)."""
    hosts = []
    for r in report.hosts:
        state = (r.data or {}).get("state")
        if r.name in added:
            r = replace(r, status=Status.OK)
        elif state in ("changed", "revoked"):
            r = replace(r, status=Status.AUTH_FAILED,
                        error=HostError("host_key", f"{r.name}: host key {state}; not approved"))
        hosts.append(r)
    return replace(report, hosts=tuple(hosts))


def forget(inventory: Inventory, settings: RunSettings, names: Iterable[str], file: Path) -> dict[str, int]:
    """Remove every key of the named hosts (inventory names or addresses) from `file`."""
    removed: dict[str, int] = {}
    for name in names:
        host = inventory.hosts.get(name)
        if host is not None:
            hop = target_hop(host, settings)
            removed[name] = hostkeys.forget(file, hop.address, hop.port)
        else:
            address, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
            removed[name] = hostkeys.forget(file, address, int(port) if port else None)
    return removed


def _no_transport(host: Host, options: object, *, deadline: float | None = None) -> _NoTransport:
    return _NoTransport(host.name)
