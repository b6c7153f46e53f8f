"""A fleet of real OpenSSH servers on loopback, one per simulated host, for tests and benchmarks.

Each host is `/usr/sbin/sshd -D -e -f CFG` running as root inside `unshare --uts --mount --propagation
private` (no `--fork`, so the PID we hold IS sshd): its own hostname (fleet-01 ...), its own address
127.0.77.(i+1) on one shared free port, and optional per-host fixtures bind-mounted inside its mount
namespace only (tool shims on /usr/local/bin, a tmpfs /run and /var/log, os-release, a really full disk).
Needs root, /usr/sbin/sshd and unshare. Usage::

    with Fleet(tmp_path) as fleet:
        fleet.start(10)
        fleet.write_inventory(tmp_path / "inventory.yaml")
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from rmmctl.inventory.model import Host

SSHD = "/usr/sbin/sshd"
# If the test process dies without stop(), its sshd listeners get SIGTERM (setpriv execs unshare, which
# execs sh, which execs sshd: the setting survives). It fires when the THREAD that called start() exits.
_PDEATHSIG = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
ADDRESS_PREFIX = "127.0.77."
SPARE_ADDRESS = "127.0.77.1"  # never a fleet host: closed port and tarpit live here

_SSHD_CONFIG = """\
ListenAddress {address}:{port}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized_keys}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication {password_auth}
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin {root_login}
AllowTcpForwarding yes
Subsystem sftp internal-sftp
LogLevel ERROR
MaxStartups 200:30:300
PrintMotd no
SetEnv HOME={home} RMM_TEST_HOST={name}
"""

# Runs as `sh -ec SCRIPT sh NAME FIXTURE_DIR CONFIG` inside the fresh namespaces, then execs sshd.
_HOST_SCRIPT = r"""
NAME=$1 FX=$2 CFG=$3
hostname "$NAME"
if [ -n "$FX" ]; then
  [ -f "$FX/os-release" ] && mount --bind "$FX/os-release" /usr/lib/os-release
  [ -f "$FX/machine-id" ] && mount --bind "$FX/machine-id" /etc/machine-id
  for f in loadavg meminfo uptime stat; do
    [ -f "$FX/proc/$f" ] && mount --bind "$FX/proc/$f" "/proc/$f"
  done
  [ -d "$FX/bin" ] && mount --bind "$FX/bin" /usr/local/bin
  if [ -d "$FX/run" ]; then mount -t tmpfs -o size=4m tmpfs /run; cp -a "$FX/run/." /run/; fi
  if [ -d "$FX/log" ]; then mount -t tmpfs -o size=4m tmpfs /var/log; cp -a "$FX/log/." /var/log/; fi
  if [ -f "$FX/fulldisk" ]; then
    mount -t tmpfs -o size=1m tmpfs /srv; mkdir -p /srv/data
    mount -t tmpfs -o "size=$(cat "$FX/fulldisk"),nr_inodes=512" tmpfs /srv/data
    dd if=/dev/zero of=/srv/data/fill bs=64k 2>/dev/null || true
  fi
  if [ -f "$FX/readonly" ]; then mount -t tmpfs -o ro,size=1m tmpfs /srv; fi
  if [ -f "$FX/binds" ]; then
    while IFS='	' read -r src dst; do
      if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "${dst%/*}"; [ -e "$dst" ] || : > "$dst"; fi
      mount --bind "$src" "$dst"
    done < "$FX/binds"
  fi
fi
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -f "$CFG"
"""


@dataclass(frozen=True)
class FixtureSpec:
    """Per-host fixtures, applied inside that host's mount namespace only.

    bin: tool shims (name -> script text) mounted over /usr/local/bin (first on PATH);
    run / log: files (relative path -> text) on a fresh tmpfs /run or /var/log;
    proc: synthetic /proc files (loadavg, meminfo, uptime, stat); fulldisk: size of a 100%-full
    tmpfs mounted on /srv/data (e.g. "1m"); binds: target -> source bind mounts, done last (after the
    tmpfs /run and /var/log), e.g. {"/run/cups/cups.sock": "/tmp/x/cups.sock"}: a missing target is
    created, so keep targets inside a fixture tmpfs (give `run`/`log` a file) to leave the machine alone.
    """

    bin: Mapping[str, str] = field(default_factory=dict)
    run: Mapping[str, str] = field(default_factory=dict)
    log: Mapping[str, str] = field(default_factory=dict)
    proc: Mapping[str, str] = field(default_factory=dict)
    os_release: str | None = None
    machine_id: str | None = None
    fulldisk: str | None = None
    binds: Mapping[str, str] = field(default_factory=dict)
    readonly: bool = False  # /srv becomes a read-only tmpfs (not together with fulldisk)


@dataclass(frozen=True)
class FleetHost:
    """One fleet host: index (1-based), hostname, address, port and its private directory."""

    index: int
    name: str
    address: str
    port: int
    workdir: Path

    @property
    def known_hosts_name(self) -> str:
        """The host's name as known_hosts writes it: `[address]:port`."""
        return f"[{self.address}]:{self.port}"


class FleetError(RuntimeError):
    """The fleet could not start (with the sshd log excerpt that says why)."""


def _ed25519_pair() -> tuple[bytes, str]:
    """A fresh ed25519 key: (OpenSSH private key bytes, "ssh-ed25519 BASE64" public line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def write_key_pair(path: Path) -> str:
    """Write an ed25519 private key at `path` (0600) and `path`.pub; return the public line."""
    private, public = _ed25519_pair()
    path.write_bytes(private)
    path.chmod(0o600)
    path.with_name(path.name + ".pub").write_text(public + "\n")
    return public


def requirements_missing() -> str | None:
    """Why the fleet cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return "the sshd fleet needs root (unshare --uts --mount)"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is missing (apt-get install openssh-server)"
    if shutil.which("unshare") is None:
        return "unshare is missing (util-linux)"
    return None


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _banner_ready(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            return s.recv(8).startswith(b"SSH-2.0")
    except OSError:
        return False


class Fleet:
    """N real sshd hosts on 127.0.77.2.. (one free port per fleet, so fleets can run side by side) with a
    shared host key, a client key and an inventory-level known_hosts file trusting every host."""

    def __init__(self, workdir: Path, prefix: str = "fleet", password: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.prefix = prefix  # hostnames are PREFIX-01, PREFIX-02, ...
        self.password = password  # root's password on these hosts only (their own /etc/shadow), and password login on
        self.hosts: list[FleetHost] = []
        self.port = 0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._specs: dict[str, FixtureSpec] = {}
        self._tarpit: socket.socket | None = None
        keys = self.workdir / "keys"
        self.host_key = keys / "host_ed25519"
        self.client_key = keys / "client_ed25519"
        self.authorized_keys = keys / "authorized_keys"
        self.known_hosts = self.workdir / "known_hosts"
        self.home = self.workdir / "home"
        self.host_public_key = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, n: int, fixtures: Mapping[str, FixtureSpec] | None = None) -> Fleet:
        """Start n hosts in parallel and return once every one answers with an SSH banner."""
        reason = requirements_missing()
        if reason:
            raise FleetError(reason)
        self._prepare_files()
        for attempt in range(3):
            self.port = _free_port(SPARE_ADDRESS)
            self.hosts = [self._host(i) for i in range(1, n + 1)]
            self._specs = dict(fixtures or {})
            self._procs = [self._spawn(h, self._specs.get(h.name)) for h in self.hosts]
            try:
                self._wait_ready(deadline=time.monotonic() + 10)
                break
            except FleetError:
                self.stop()
                if attempt == 2 or not self._port_clash():
                    raise
        self.known_hosts.write_text("".join(f"{h.known_hosts_name} {self.host_public_key}\n" for h in self.hosts))
        self.known_hosts.chmod(0o600)
        return self

    def stop(self) -> None:
        """Terminate every sshd (and anything left in its namespaces) by PID; close the tarpit."""
        if self._tarpit is not None:
            self._tarpit.close()
            self._tarpit = None
        namespaces = {_uts_ns(p.pid) for p in self._procs if p.poll() is None} - {None}
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _kill_leftovers(namespaces)
        self._procs = []

    def __enter__(self) -> Fleet:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- metadata --------------------------------------------------------------------------------

    def host(self, i: int) -> FleetHost:
        """Host i (1-based)."""
        return self.hosts[i - 1]

    @property
    def closed_port(self) -> tuple[str, int]:
        """An address and port where nothing listens (connection refused)."""
        return SPARE_ADDRESS, 1

    def tarpit(self) -> tuple[str, int]:
        """An address and port that accepts TCP but never speaks (a listener that never accepts)."""
        if self._tarpit is None:
            self._tarpit = socket.create_server((SPARE_ADDRESS, 0), backlog=64)
        return SPARE_ADDRESS, int(self._tarpit.getsockname()[1])

    def inventory_host(self, i: int, **vars: Any) -> Host:
        """An rmmctl Host for fleet host i, logging in as root with the fleet's client key; `vars` merge in."""
        h = self.host(i)
        return Host(name=h.name, address=h.address, port=h.port, user="root",
                    vars={"key_file": str(self.client_key), **vars})

    def sshd_pids(self) -> list[int]:
        """PIDs of the running sshd listeners, in host order."""
        return [p.pid for p in self._procs]

    def processes(self, i: int) -> list[tuple[int, str]]:
        """(PID, name) of every process in host i's namespace but its listener: sessions and what they run."""
        listener = self._procs[i - 1].pid
        ns = _uts_ns(listener)
        if ns is None:
            return []
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != listener and _uts_ns(int(entry.name)) == ns:
                try:
                    out.append((int(entry.name), (entry / "comm").read_text().strip()))
                except OSError:
                    continue
        return sorted(out)

    def sessions(self, i: int) -> list[int]:
        """PIDs of host i's sshd session processes (one or more per open connection; the listener left out)."""
        return [pid for pid, name in self.processes(i) if name.startswith("sshd")]

    def kill_host(self, i: int) -> None:
        """Host i goes down hard: its listener and every session (open connections drop) are killed."""
        proc = self._procs[i - 1]
        ns = _uts_ns(proc.pid)
        proc.kill()
        proc.wait()
        _kill_leftovers({ns})

    def restart_host(self, i: int) -> None:
        """Start host i again (after kill_host), same address, port and fixtures; returns once it answers."""
        host = self.host(i)
        self._procs[i - 1] = self._spawn(host, self._specs.get(host.name))
        end = time.monotonic() + 10
        while not _banner_ready(host.address, host.port):
            if self._procs[i - 1].poll() is not None or time.monotonic() > end:
                raise FleetError(f"{host.name}: did not come back: {self._log_tail(host)}")
            time.sleep(0.01)  # poll interval, not a readiness guess

    def write_inventory(
        self, path: Path, hosts: Iterable[int] | None = None, extra: Mapping[str, Any] | None = None
    ) -> Path:
        """Write an rmmctl inventory for the given host indexes (default all); `extra` merges at top level."""
        path = Path(path)
        chosen = [self.host(i) for i in hosts] if hosts is not None else self.hosts
        doc: dict[str, Any] = {
            "known_hosts": os.path.relpath(self.known_hosts, path.parent),
            "hosts": {
                h.name: {"address": h.address, "port": h.port, "user": "root", "key_file": str(self.client_key)}
                for h in chosen
            },
        }
        doc.update(extra or {})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    # -- internals -------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        self.host_key.parent.mkdir(parents=True, exist_ok=True)
        self.host_key.parent.chmod(0o700)
        if not self.host_key.exists():
            self.host_public_key = write_key_pair(self.host_key)
            client_public = write_key_pair(self.client_key)
            self.authorized_keys.write_text(client_public + "\n")
        self.host_public_key = self.host_key.with_name(self.host_key.name + ".pub").read_text().strip()
        self.home.mkdir(exist_ok=True)
        for rc in (".bashrc", ".profile", ".bash_profile", ".bash_login"):
            (self.home / rc).write_text("")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def _shadow(self) -> Path:
        shadow = self.workdir / "shadow"
        if not shadow.exists():
            digest = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=self.password, text=True,
                                    capture_output=True, check=True).stdout.strip()
            lines = Path("/etc/shadow").read_text().splitlines()
            shadow.write_text("".join((f"root:{digest}:{ln.split(':', 2)[2]}" if ln.startswith("root:") else ln)
                                      + "\n" for ln in lines))
            shadow.chmod(0o640)
        return shadow

    def _host(self, i: int) -> FleetHost:
        name = f"{self.prefix}-{i:02d}"
        host = FleetHost(i, name, f"{ADDRESS_PREFIX}{i + 1}", self.port, self.workdir / name)
        host.workdir.mkdir(exist_ok=True)
        (host.workdir / "sshd_config").write_text(
            _SSHD_CONFIG.format(
                address=host.address, port=host.port, host_key=self.host_key, home=self.home,
                authorized_keys=self.authorized_keys, name=host.name,
                password_auth="yes" if self.password else "no",
                root_login="yes" if self.password else "prohibit-password",
            )
        )
        return host

    def _spawn(self, host: FleetHost, spec: FixtureSpec | None) -> subprocess.Popen[bytes]:
        if self.password:  # a shadow file of its own, bind-mounted in the host's namespace: the machine's is untouched
            spec = dataclasses.replace(spec or FixtureSpec(), binds={**(spec.binds if spec else {}),
                                                                     "/etc/shadow": str(self._shadow())})
        fx = _write_fixtures(host.workdir / "fx", spec) if spec else ""
        with open(host.workdir / "sshd.log", "wb") as log:
            return subprocess.Popen(
                [*_PDEATHSIG, "unshare", "--uts", "--mount", "--propagation", "private", "sh", "-ec", _HOST_SCRIPT,
                 "sh", host.name, str(fx), str(host.workdir / "sshd_config")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

    def _wait_ready(self, deadline: float) -> None:
        pending = list(zip(self.hosts, self._procs))
        while pending:
            for host, proc in list(pending):
                if proc.poll() is not None:
                    raise FleetError(f"{host.name}: sshd exited {proc.returncode}: {self._log_tail(host)}")
                if _banner_ready(host.address, host.port):
                    pending.remove((host, proc))
            if pending and time.monotonic() > deadline:
                raise FleetError(f"{pending[0][0].name}: no SSH banner within 10 s: {self._log_tail(pending[0][0])}")
            if pending:
                time.sleep(0.01)  # poll interval, not a readiness guess

    def _log_tail(self, host: FleetHost) -> str:
        text = (host.workdir / "sshd.log").read_text(errors="replace").strip()
        return " | ".join(text.splitlines()[-3:]) or "(no output)"

    def _port_clash(self) -> bool:
        return any("Address already in use" in (h.workdir / "sshd.log").read_text(errors="replace") for h in self.hosts)


def _write_fixtures(fx: Path, spec: FixtureSpec) -> Path:
    if fx.exists():
        shutil.rmtree(fx)
    fx.mkdir(parents=True)
    for sub, files, mode in (("bin", spec.bin, 0o755), ("run", spec.run, 0o644), ("log", spec.log, 0o644),
                             ("proc", spec.proc, 0o444)):
        for rel, text in files.items():
            target = fx / sub / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(mode)
    for name, value in (("os-release", spec.os_release), ("machine-id", spec.machine_id),
                        ("fulldisk", spec.fulldisk)):
        if value is not None:
            (fx / name).write_text(value)
    if spec.readonly:
        (fx / "readonly").write_text("")
    if spec.binds:
        (fx / "binds").write_text("".join(f"{src}\t{dst}\n" for dst, src in spec.binds.items()))
    return fx


def _uts_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/uts")
    except OSError:
        return None


def _kill_leftovers(namespaces: set[str | None]) -> None:
    """SIGKILL processes still inside our hosts' UTS namespaces (sessions outliving their sshd)."""
    # Never this process's own namespace (the machine's): a host caught before its `unshare` took effect
    # (stopped right after it was spawned) still reports it, and killing by it would kill every process here.
    namespaces = set(namespaces) - {None, _uts_ns(os.getpid())}
    if not namespaces:
        return
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _uts_ns(int(entry.name)) in namespaces:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass
