"""Issue 7 D: rmmctl over a WAN: round trips per host, wall, client and server CPU per host at 50 ms RTT.

    python benchmarks/bench_wan.py [--hosts 100] [--rtt 50] [--rtt-high 250] [--repeat 3] [--rt-hosts 5]
                                   [--ansible] [--rev REV]

Loopback hides latency, so every connection here goes through the user-space latency proxy
(`latency_proxy.py`, found beside the repository or named by --proxy), which delays each chunk by RTT/2
each way and models TCP's handshake. One fleet of --hosts real sshd hosts; the proxy listens on
127.0.95.1:BASE+i for fleet host i and the inventories, known_hosts, the bare pool's spec and the
Ansible INI all name the proxy addresses.

Two measurements, for `rmmctl status`, the bare paramiko pool sending the very same probe script,
`rmmctl run -- uname -a`, the pool running `uname -a`, and (with --ansible) `ansible -m setup`:

* **round trips per host**: each tool works on --rt-hosts hosts one at a time (forks 1, fresh
  connections), at --rtt and at --rtt-high; round trips per host = (wall_high - wall_low) /
  (rtt_high - rtt_low) / rt-hosts. Start-up costs cancel out; a large RTT gap keeps the machine's
  noise well under one round trip.
* **fleet run at --rtt**: every host, 50 workers: wall, client CPU per host, sshd CPU per host.

Needs root (the fleet uses unshare). Stops the fleet and the proxy by PID at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from bench_status import ANSIBLE, ansible_env, apt_fixtures, check_ansible, check_bare, check_rmmctl, probe_script
from harness import BenchError, Sample

FORKS = 50
PROXY_ADDRESS = "127.0.95.1"
DEFAULT_PROXY = harness.REPO.parent / "shared" / "tools" / "latency_proxy.py"


class Proxy:
    """The latency proxy as a child process: one listening port per fleet host, a control port."""

    def __init__(self, script: Path, fleet: harness.Fleet, n: int, rtt_ms: float) -> None:
        self.base = _free_port_run(PROXY_ADDRESS, n + 1)
        self.control = (PROXY_ADDRESS, self.base + n)
        pairs = [f"--pair={PROXY_ADDRESS}:{self.base + i}={h.address}:{h.port}" for i, h in enumerate(fleet.hosts[:n])]
        self.proc = subprocess.Popen([sys.executable, str(script), "--rtt", str(rtt_ms), "--count", "0",
                                      "--control", f"{self.control[0]}:{self.control[1]}", *pairs],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.command("stats")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    self.stop()
                    raise BenchError(f"latency proxy did not start: {err[-500:]}") from None
                time.sleep(0.05)  # the proxy is starting: nothing to wait on but its control port

    def command(self, line: str) -> dict:
        with socket.create_connection(self.control, timeout=5) as sock:
            sock.sendall(line.encode() + b"\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return json.loads(data)

    def set_rtt(self, ms: float) -> None:
        self.command(f"rtt {ms}")

    def address(self, i: int) -> tuple[str, int]:
        return PROXY_ADDRESS, self.base + i

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _free_port_run(address: str, count: int) -> int:
    """A base port such that base..base+count-1 are all free on address."""
    for base in range(23000, 60000, 1000):
        socks = []
        try:
            for i in range(count):
                s = socket.socket()
                s.bind((address, base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise BenchError(f"no run of {count} free ports on {address}")


def proxied_files(fleet: harness.Fleet, proxy: Proxy, n: int, tmp: Path) -> dict[str, Path]:
    """known_hosts, rmmctl inventory, bare-pool spec and Ansible INI naming the proxy's addresses."""
    rows = [(h.name, *proxy.address(i)) for i, h in enumerate(fleet.hosts[:n])]
    known = tmp / f"known_hosts-wan-{n}"
    known.write_text("".join(f"[{a}]:{p} {fleet.host_public_key}\n" for _, a, p in rows))
    inventory = tmp / f"inventory-wan-{n}.yaml"
    inventory.write_text(json.dumps({
        "known_hosts": str(known),
        "hosts": {name: {"address": a, "port": p, "user": "root", "key_file": str(fleet.client_key)}
                  for name, a, p in rows},
    }))
    spec = tmp / f"spec-wan-{n}.json"
    spec.write_text(json.dumps({"user": "root", "key": str(fleet.client_key), "known_hosts": str(known),
                                "hosts": [{"name": name, "address": a, "port": p} for name, a, p in rows]}))
    ssh_args = (f"-o UserKnownHostsFile={known} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes")
    ini = tmp / f"ansible-wan-{n}.ini"
    ini.write_text("\n".join(["[fleet]", *(f"{name} ansible_host={a} ansible_port={p}" for name, a, p in rows), "",
                              "[fleet:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={fleet.client_key}",
                              f"ansible_ssh_common_args='{ssh_args}'", ""]))
    return {"known": known, "inventory": inventory, "spec": spec, "ini": ini}


def check_run(names: list[str]) -> harness.Checker:
    return harness.check_rmmctl(names, lambda h: h["status"] == "ok" and h["name"] in h["data"]["stdout"], codes=(0,))


def check_bare_run(names: list[str]) -> harness.Checker:
    return harness.check_bare(names, lambda name, stdout: name in stdout)


def tools(fleet: harness.Fleet, proxy: Proxy, n: int, forks: int, tmp: Path, env: dict[str, str],
          with_ansible: bool) -> dict[str, tuple[list[str], harness.Checker, dict[str, str]]]:
    """argv, checker and environment of every tool for the first n hosts."""
    files = proxied_files(fleet, proxy, n, tmp)
    script = tmp / "probe.sh"
    sections, command = probe_script(env, script)
    names = [h.name for h in fleet.hosts[:n]]
    rmm = [*harness.rmmctl_argv()]
    pool = [sys.executable, str(harness.BENCH_DIR / "bare_pool.py"), str(files["spec"]), "--workers", str(forks)]
    out = {
        "rmmctl status": ([*rmm, "status", "all", "-i", str(files["inventory"]), "-o", "json", "-f", str(forks)],
                          check_rmmctl(names), env),
        "bare pool (status probe)": ([*pool, "--stdin", str(script), "--", command], check_bare(names, sections), env),
        "bare pool (probe in command)": ([*pool, "--", shlex.join(["sh", "-c", script.read_text()])],
                                         check_bare(names, sections), env),
        "rmmctl run": ([*rmm, "run", "all", "-i", str(files["inventory"]), "-o", "json", "-f", str(forks), "--",
                        "uname", "-a"], check_run(names), env),
        "bare pool (uname -a)": ([*pool, "--", "uname -a"], check_bare_run(names), env),
    }
    if with_ansible:
        aenv = ansible_env(env, tmp)
        out["ansible -m setup"] = ([str(ANSIBLE), "all", "-i", str(files["ini"]), "-m", "setup", "-f", str(forks)],
                                   check_ansible(names), aenv)
    return out


class _KeepProxy:
    """The fleet as stop_ssh_masters sees it: the latency proxy (also our child) is not an ssh master to reap."""

    def __init__(self, fleet: harness.Fleet, proxy_pid: int) -> None:
        self._fleet, self._proxy_pid = fleet, proxy_pid

    def sshd_pids(self) -> list[int]:
        return [*self._fleet.sshd_pids(), self._proxy_pid]


PROXY_PID: list[int] = []


def measure(tool: str, n: int, spec: tuple[list[str], harness.Checker, dict[str, str]], fleet: harness.Fleet) -> Sample:
    argv, check, env = spec
    if tool.startswith("ansible"):
        from bench_status import stop_ssh_masters

        keep = _KeepProxy(fleet, PROXY_PID[0])
        return harness.measure(tool, n, argv, env, fleet, check, after=lambda: stop_ssh_masters(env, keep))
    return harness.measure(tool, n, argv, env, fleet, check)


def round_trips(fleet: harness.Fleet, proxy: Proxy, args: argparse.Namespace, tmp: Path,
                env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Round trips per host of each tool: forks 1 over --rt-hosts hosts at two RTTs."""
    k = args.rt_hosts
    specs = tools(fleet, proxy, k, 1, tmp, env, args.ansible)
    walls: dict[str, dict[float, list[float]]] = {tool: {args.rtt: [], args.rtt_high: []} for tool in specs}
    for rtt in (args.rtt, args.rtt_high):
        proxy.set_rtt(rtt)
        for i in range(args.repeat):
            order = list(specs.items()) if i % 2 == 0 else list(reversed(specs.items()))
            for tool, spec in order:
                s = measure(tool, k, spec, fleet)
                walls[tool][rtt].append(s.wall_s)
                print(f"  rtt={rtt:g} ms {tool} x{k} hosts, forks 1: {s.wall_s:.3f} s", file=sys.stderr)
    out = {}
    for tool, by_rtt in walls.items():
        low, high = statistics.median(by_rtt[args.rtt]), statistics.median(by_rtt[args.rtt_high])
        out[tool] = {"round_trips_per_host": (high - low) / ((args.rtt_high - args.rtt) / 1000) / k,
                     f"wall_s_at_{args.rtt:g}ms": low, f"wall_s_at_{args.rtt_high:g}ms": high}
    return out


def fleet_run(fleet: harness.Fleet, proxy: Proxy, args: argparse.Namespace, tmp: Path,
              env: dict[str, str], n: int, with_ansible: bool) -> list[Sample]:
    """n hosts at --rtt with 50 workers, --repeat times per tool (ansible once), alternating order."""
    proxy.set_rtt(args.rtt)
    specs = tools(fleet, proxy, n, FORKS, tmp, env, with_ansible)
    samples = []
    for tool, spec in specs.items():  # warm-up, discarded
        if not tool.startswith("ansible"):
            measure(tool, n, spec, fleet)
    for i in range(args.repeat):
        order = list(specs.items()) if i % 2 == 0 else list(reversed(specs.items()))
        for tool, spec in order:
            if tool.startswith("ansible") and i > 0:
                continue
            s = measure(tool, n, spec, fleet)
            print(f"  N={n} rtt={args.rtt:g} ms {tool}: {s.wall_s:.3f} s wall, {s.cpu_s:.2f} s CPU, "
                  f"sshd {s.server_cpu_s:.2f} s", file=sys.stderr)
            samples.append(s)
    return samples


def bench(args: argparse.Namespace) -> tuple[list[Sample], dict[str, object]]:
    if not args.proxy.exists():
        raise BenchError(f"{args.proxy} missing: pass --proxy PATH to latency_proxy.py")
    if args.ansible and not ANSIBLE.exists():
        raise BenchError(f"{ANSIBLE} missing: run benchmarks/setup_venv.sh (or drop --ansible)")
    notes: dict[str, object] = {}
    with harness.running_fleet(args.hosts, apt_fixtures(args.hosts, 0)) as fleet, \
            tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = harness.hermetic_env(tmp / "home")
        notes["rmmctl"] = harness.use_revision(env, args.rev, tmp)
        print(f"rmmctl: {notes['rmmctl']}", file=sys.stderr)
        proxy = Proxy(args.proxy, fleet, args.hosts, args.rtt)
        PROXY_PID[:] = [proxy.proc.pid]
        try:
            notes["round_trips"] = round_trips(fleet, proxy, args, tmp, env)
            samples = fleet_run(fleet, proxy, args, tmp, env, args.hosts, args.ansible)
            samples += fleet_run(fleet, proxy, args, tmp, env, args.small, False)  # for CPU per extra host
            notes["proxy"] = proxy.command("stats")
        finally:
            proxy.stop()
    return samples, notes


def main() -> int:
    parser = argparse.ArgumentParser(description="rmmctl over WAN latency vs a bare paramiko pool (and ansible)")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--rtt", type=float, default=50.0, help="round-trip time in ms (default 50)")
    parser.add_argument("--rtt-high", type=float, default=250.0,
                        help="second RTT for counting round trips (default 250)")
    parser.add_argument("--rt-hosts", type=int, default=5, help="hosts worked one at a time when counting round trips")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", type=int, default=10,
                        help="a second, small fleet run: CPU per host = (CPU at --hosts - CPU here) / the difference")
    parser.add_argument("--ansible", action="store_true", help="also ansible -m setup (benchmarks/.venv)")
    parser.add_argument("--proxy", type=Path, default=DEFAULT_PROXY, help="path to latency_proxy.py")
    parser.add_argument("--rev", help="measure rmmctl at this git revision (git archive), not the working tree")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    done = harness.run_and_print(lambda: bench(args))
    if isinstance(done, int):
        return done
    samples, summary, notes = done
    print(f"\nround trips per host (forks 1, {args.rt_hosts} hosts, RTT {args.rtt:g} vs {args.rtt_high:g} ms):\n")
    print("| tool | round trips per host |\n|---|---:|")
    for tool, m in notes["round_trips"].items():  # type: ignore[union-attr]
        print(f"| {tool} | {m['round_trips_per_host']:.2f} |")
    big, small = args.hosts, args.small
    print(f"\nN={big} at RTT {args.rtt:g} ms, 50 workers (client CPU per host: the CPU {big} hosts cost over"
          f" {small}, divided by {big - small}: start-up left out):\n")
    print("| tool | wall s | ratio | client CPU ms/host | client CPU s (total) | sshd CPU ms/host |\n"
          "|---|---:|---:|---:|---:|---:|")
    bases = {"rmmctl status": "bare pool (status probe)", "rmmctl run": "bare pool (uname -a)"}
    for (n, tool), m in sorted(summary.items()):
        if n != big:
            continue
        base = summary.get((big, bases.get(tool, "")))
        ratio = f"{m['wall_s'] / base['wall_s']:.2f}x" if base else "-"
        low = summary.get((small, tool))
        marginal = f"{1000 * (m['cpu_s'] - low['cpu_s']) / (big - small):.1f}" if low else "-"
        print(f"| {tool} | {m['wall_s']:.3f} | {ratio} | {marginal} | {m['cpu_s']:.2f} | "
              f"{1000 * m['server_cpu_s'] / n:.1f} |")
    path = harness.save_results("wan", {"machine": harness.machine(), "args": vars(args), "samples": samples,
                                        "summary": {f"{n} {t}": m for (n, t), m in summary.items()}, "notes": notes})
    print(f"\nraw results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
