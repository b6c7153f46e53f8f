"""The baseline: a bare paramiko thread pool doing one command per host, as a hand-written script would.

Per host: a TCP socket with TCP_NODELAY (and TCP_QUICKACK, as rmmctl's transport does), paramiko
SSHClient on that socket, the host key checked against a known_hosts file (RejectPolicy: an unknown
key fails), one ed25519 key, one exec (optionally a script on stdin), read stdout/stderr and the exit
code, close. Nothing else: no inventory, no store, no rendering. Prints one JSON list of
{"name", "exit_code", "stdout", "stderr", "error"} in host order on stdout.

    python bare_pool.py SPEC.json [--stdin FILE] [--workers 50] -- COMMAND

SPEC.json: {"user": "root", "key": PATH, "known_hosts": PATH,
            "hosts": [{"name": ..., "address": ..., "port": ...}, ...]}
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _QuickAckSocket(socket.socket):
    """ACK every read at once, so sshd's post-auth packets do not hold the first channel open ~40 ms."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = super().recv(bufsize, flags)
        self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)  # type: ignore[arg-type]
        return data


def open_socket(address: str, port: int, quickack: bool) -> socket.socket:
    """A connected TCP socket with TCP_NODELAY (and TCP_QUICKACK if asked and available)."""
    sock = socket.create_connection((address, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not quickack or _QUICKACK is None:
        return sock
    return _QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())


def one_host(host: dict[str, Any], spec: dict[str, Any], key: paramiko.PKey, known: paramiko.HostKeys,
             command: str, stdin: bytes | None, quickack: bool) -> dict[str, Any]:
    """Connect, run `command` once, close; the result or the error, never raising."""
    client = paramiko.SSHClient()
    client._system_host_keys = known  # parsed once, shared read-only (load_system_host_keys per host re-parses)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        sock = open_socket(host["address"], host["port"], quickack)
        client.connect(host["address"], host["port"], username=spec["user"], pkey=key, sock=sock,
                       allow_agent=False, look_for_keys=False, timeout=10)
        chan = client.get_transport().open_session(timeout=10)
        chan.exec_command(command)
        if stdin is not None:
            chan.sendall(stdin)
        chan.shutdown_write()
        out, err = _drain(chan)
        code = chan.recv_exit_status()
        return {"name": host["name"], "exit_code": code, "stdout": out.decode("utf-8", "replace"),
                "stderr": err.decode("utf-8", "replace"), "error": None}
    except Exception as exc:  # noqa: BLE001 - the baseline reports every failure, never raises
        return {"name": host["name"], "exit_code": None, "stdout": "", "stderr": "",
                "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()


def _drain(chan: paramiko.Channel) -> tuple[bytes, bytes]:
    """Read stdout and stderr until both close (stderr is small here: read it after stdout)."""
    out = bytearray()
    while True:
        data = chan.recv(1 << 20)
        if not data:
            break
        out += data
    err = bytearray()
    while True:
        data = chan.recv_stderr(1 << 20)
        if not data:
            break
        err += data
    return bytes(out), bytes(err)


def main(argv: list[str]) -> int:
    """Parse arguments, run the pool, print the JSON results; exit 1 if any host failed."""
    imported, imported_cpu = time.perf_counter() - T0, time.process_time()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--stdin", help="file whose bytes go to the command's stdin")
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--no-quickack", action="store_true", help="TCP_NODELAY only")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    with open(args.spec) as f:
        spec = json.load(f)
    key = paramiko.Ed25519Key.from_private_key_file(spec["key"])
    known = paramiko.HostKeys(spec["known_hosts"])
    stdin = Path(args.stdin).read_bytes() if args.stdin else None
    command = " ".join(args.command)
    with ThreadPoolExecutor(max_workers=min(args.workers, len(spec["hosts"]))) as pool:
        results = list(pool.map(lambda h: one_host(h, spec, key, known, command, stdin, not args.no_quickack),
                                spec["hosts"]))
    pool_s, pool_cpu = time.perf_counter() - T0 - imported, time.process_time() - imported_cpu
    json.dump(results, sys.stdout)
    sys.stdout.flush()
    sys.stderr.write(f"@@stages imported={imported:.3f} import_cpu={imported_cpu:.3f} pool={pool_s:.3f} "
                     f"pool_cpu={pool_cpu:.3f} end={time.perf_counter() - T0:.3f}\n")
    return 0 if all(r["error"] is None and r["exit_code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
