"""Host-key trust: read, match, verify and edit OpenSSH known_hosts files: the one implementation.

Which files: a host's keys are looked up in its `known_hosts` var (if set), the inventory's
`known_hosts` file (if the inventory names one), then ~/.ssh/known_hosts. Which file is WRITTEN, by
`rmmctl hostkeys approve` and by `host_key_policy: accept-new` alike (`trust_file`): the inventory's
`known_hosts` file if it names one, else ~/.ssh/known_hosts. Everything here is a pure function of
file contents. Host fields may be plain, comma
lists, `[addr]:port`, `*`/`?` globs, `!negations` or hashed (`|1|salt|hmac`); `@revoked` lines refuse a
key everywhere and `@cert-authority` lines are ignored (no host certificates). Writes hold a process
lock plus an flock on the file, create it 0600 and never duplicate a line.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import hashlib
import hmac
import os
import re
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmmctl.inventory.model import Host
    from rmmctl.transports import TransportOptions

_WRITE_LOCK = threading.Lock()
_CACHE_LOCK = threading.Lock()
_CACHE: dict[Path, tuple[tuple[int, int, int], tuple[KnownEntry, ...]]] = {}

@dataclass(frozen=True, slots=True)
class ScannedKey:
    """A server's public host key as fetched (not yet trusted)."""

    key_type: str  # as known_hosts writes it: ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
    base64: str
    fingerprint: str  # SHA256:...


@dataclass(frozen=True, slots=True)
class KnownEntry:
    """One key line of a known_hosts file."""

    file: Path
    line: int
    hosts: str  # the host field as written (may be hashed)
    key_type: str
    base64: str
    marker: str | None = None  # "@revoked" | "@cert-authority" | None

    @property
    def fingerprint(self) -> str:
        """SHA256:... of the key."""
        return fingerprint(base64.b64decode(self.base64))

    @property
    def where(self) -> str:
        """`file:line`, for messages."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of checking a server key: known (the entry that matched), unknown, changed (the entry
    it contradicts) or revoked (the @revoked entry)."""

    state: str  # known | unknown | changed | revoked
    entry: KnownEntry | None = None


def known_host_name(address: str, port: int | None) -> str:
    """The name known_hosts uses: `address` for port 22, else `[address]:port`."""
    if port in (None, 22):
        return address
    return f"[{address}]:{port}"


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def blob_type(blob: bytes) -> str:
    """The key type named inside a public key blob (ssh-ed25519, ssh-rsa, ...)."""
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + length].decode("ascii", "replace")


# -- which files -----------------------------------------------------------------------------------


def user_file(options: TransportOptions) -> Path:
    """The user's known_hosts file: options.user_known_hosts, default ~/.ssh/known_hosts."""
    return options.user_known_hosts or Path("~/.ssh/known_hosts").expanduser()


def known_hosts_files(options: TransportOptions, host: Host | None = None) -> list[Path]:
    """The files checked for a host, in order: its `known_hosts` var, the inventory's, then the user's
    file, which is always last."""
    files = [Path(str(host.var("known_hosts"))).expanduser()] if host is not None and host.var("known_hosts") else []
    files += [f for f in options.known_hosts if f not in files]
    return files + [user_file(options)]


def trust_file(options: TransportOptions) -> Path:
    """THE file new keys are written to, by `hostkeys approve` and `accept-new` alike: the inventory's
    known_hosts file if the inventory names one, else the user's file (~/.ssh/known_hosts). A host's
    own `known_hosts` var is only read, never written."""
    return options.known_hosts[0] if options.known_hosts else user_file(options)


# -- reading ---------------------------------------------------------------------------------------


def parse_line(file: Path, lineno: int, text: str) -> KnownEntry | None:
    """One known_hosts line as an entry, or None for blanks, comments and unreadable lines."""
    fields = text.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = fields.pop(0) if fields[0].startswith("@") else None
    if len(fields) < 3:
        return None
    hosts, key_type, b64 = fields[:3]
    try:
        base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return KnownEntry(file, lineno, hosts, key_type, b64, marker)


def known_entries(files: Iterable[Path]) -> list[KnownEntry]:
    """Every key line of the given files (missing files are skipped), in file then line order."""
    out: list[KnownEntry] = []
    for file in files:
        out += _file_entries(Path(file))
    return out


def _file_entries(file: Path) -> tuple[KnownEntry, ...]:
    """A file's entries, parsed once per version of the file (every host of a run reads them)."""
    try:
        st = file.stat()
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        with _CACHE_LOCK:
            cached = _CACHE.get(file)
        if cached is not None and cached[0] == signature:
            return cached[1]
        text = file.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return ()
    parsed = (parse_line(file, n, line) for n, line in enumerate(text.splitlines(), 1))
    entries = tuple(e for e in parsed if e is not None)
    with _CACHE_LOCK:
        _CACHE[file] = (signature, entries)
    return entries


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
                      re.IGNORECASE)


def _glob(pattern: str, name: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == name.lower()
    return _glob_regex(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=65536)
def _hashed_parts(pattern: str) -> tuple[bytes, bytes] | None:
    parts = pattern.split("|")
    if len(parts) != 4:
        return None
    try:
        return base64.b64decode(parts[2]), base64.b64decode(parts[3])
    except (binascii.Error, ValueError):
        return None


def _hashed_match(pattern: str, name: str) -> bool:
    parts = _hashed_parts(pattern)
    return parts is not None and hmac.compare_digest(hmac.digest(parts[0], name.encode(), "sha1"), parts[1])


def hosts_match(field: str, name: str, *, literal_only: bool = False) -> bool:
    """Whether a known_hosts host field matches `name` (OpenSSH rules: a negation match wins)."""
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if pattern.startswith("|1|"):
            hit = _hashed_match(pattern, name)
        elif literal_only:
            hit = pattern.lower() == name.lower()
        else:
            hit = _glob(pattern, name)
        if hit and negated:
            return False
        matched = matched or hit
    return matched


def entries_for(files: Iterable[Path], address: str, port: int | None) -> list[KnownEntry]:
    """The entries of `files` that apply to address:port (revocations included)."""
    name = known_host_name(address, port)
    return [e for e in known_entries(files) if e.marker != "@cert-authority" and hosts_match(e.hosts, name)]


def verify(entries: Sequence[KnownEntry], blob: bytes) -> Verdict:
    """Check a server key blob against a host's entries; a different key for the host is `changed`."""
    b64 = base64.b64encode(blob).decode()
    revoked = next((e for e in entries if e.marker == "@revoked" and e.base64 == b64), None)
    if revoked is not None:
        return Verdict("revoked", revoked)
    plain = [e for e in entries if e.marker is None]
    match = next((e for e in plain if e.base64 == b64), None)
    if match is not None:
        return Verdict("known", match)
    if not plain:
        return Verdict("unknown")
    same_type = [e for e in plain if e.key_type == blob_type(blob)]
    return Verdict("changed", (same_type or plain)[0])


# -- writing ---------------------------------------------------------------------------------------


def _locked_rewrite(file: Path, edit: Callable[[str], tuple[str, int]]) -> int:
    """Open (creating 0600) and flock the file, let `edit` turn old text into new, write it back."""
    file = Path(file)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _WRITE_LOCK:
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8", errors="replace") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            old = fh.read()
            new, changed = edit(old)
            if changed:
                fh.seek(0)
                fh.truncate()
                fh.write(new)
                fh.flush()
                os.fsync(fh.fileno())
                with _CACHE_LOCK:
                    _CACHE.pop(file, None)
            return changed


def approve(file: Path, host: str, port: int | None, keys: Iterable[ScannedKey]) -> int:
    """Trust `keys` for host:port in `file` (no duplicate lines); return how many lines were added."""
    name = known_host_name(host, port)

    def edit(old: str) -> tuple[str, int]:
        present = {(e.key_type, e.base64) for e in _entries_in(old) if hosts_match(e.hosts, name)}
        lines = [f"{name} {k.key_type} {k.base64}\n" for k in keys if (k.key_type, k.base64) not in present]
        lines = list(dict.fromkeys(lines))
        sep = "\n" if old and not old.endswith("\n") else ""
        return old + sep + "".join(lines), len(lines)

    return _locked_rewrite(file, edit)


def forget(file: Path, host: str, port: int | None) -> int:
    """Remove every line naming host:port exactly (plain or hashed, not globs); return how many."""
    name = known_host_name(host, port)
    if not Path(file).exists():
        return 0

    def edit(old: str) -> tuple[str, int]:
        keep, removed = [], 0
        for lineno, line in enumerate(old.splitlines(keepends=True), 1):
            entry = parse_line(Path(file), lineno, line)
            if entry is not None and hosts_match(entry.hosts, name, literal_only=True):
                removed += 1
            else:
                keep.append(line)
        return "".join(keep), removed

    return _locked_rewrite(file, edit)


def _entries_in(text: str) -> list[KnownEntry]:
    out = [parse_line(Path("-"), n, line) for n, line in enumerate(text.splitlines(), 1)]
    return [e for e in out if e is not None]
