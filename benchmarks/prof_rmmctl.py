"""Profile one rmmctl command on N fleet hosts with py-spy (all threads) and say where the CPU goes.

    benchmarks/setup_venv.sh        # once: py-spy in benchmarks/.venv
    python benchmarks/prof_rmmctl.py --hosts 20 [--rev HEAD] [--idle] -- run all -o json -- uname -a
    python benchmarks/prof_rmmctl.py --hosts 20 --bare -- uname -a        (the baseline, same method)

`-i INVENTORY` is added for you. Samples at 500 Hz without pausing the process (CPU only; --idle adds
waiting threads, i.e. wall time), then prints the inclusive share of samples per phase (import, executor, SSH connect,
auth, store, render...) and the hottest functions. The collapsed stacks are kept in benchmarks/results/
for flame graphs (e.g. speedscope or inferno).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

PY_SPY = harness.BENCH_DIR / ".venv" / "bin" / "py-spy"

# Phase = first matching frame substring, checked in this order (inclusive time of that frame).
PHASES = [
    ("import (module load)", "_find_and_load"),
    ("store (SQLite)", "rmmctl/store/"),
    ("render / output", "rmmctl/render/"),
    ("inventory load+select", "rmmctl/inventory/"),
    ("ssh: host-key lookup", "rmmctl/transports/ssh/known_hosts.py"),
    ("ssh: auth (key load + publickey)", "rmmctl/transports/ssh/auth.py"),
    ("ssh: handshake (kex)", "start_ssh"),
    ("ssh: command on channel", "rmmctl/transports/ssh/exec.py"),
    ("probe parse / facts", "rmmctl/probes/"),
    ("checks", "rmmctl/checks/"),
    ("paramiko transport thread", "paramiko/transport.py:run"),
    ("executor other", "rmmctl/executor.py"),
]


def phase_of(stack: list[str]) -> str:
    """The first phase whose marker appears anywhere in the stack."""
    for name, marker in PHASES:
        if any(marker in frame for frame in stack):
            return name
    return "other (interpreter, threads, exit)"


def package_of(frame: str) -> str:
    """`func (path/to/module.py:12)` -> the top-level package or stdlib module the frame runs in."""
    if "(" not in frame or not frame.endswith(")"):
        return "(no Python frame)"
    where = frame.rsplit("(", 1)[1].rstrip(")").rsplit(":", 1)[0]
    if where.startswith("<frozen"):
        return "importlib (frozen)"
    parts = Path(where).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if "rmmctl" in parts:
        return "rmmctl/" + "/".join(parts[parts.index("rmmctl") + 1:])
    return "stdlib " + Path(where).stem if len(parts) <= 2 else where


def analyse(raw: Path, top: int = 25, rate: int = 1000) -> str:
    """Shares per phase and the hottest self-time functions, from py-spy's collapsed stacks."""
    phases: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        phases[phase_of(stack)] += count
        leaf[stack[-1]] += count
        packages[package_of(stack[-1])] += count
    out = [f"{total} samples at {rate} Hz = {total * 1000 / rate:.0f} ms of CPU", "",
           "phase (inclusive)                      samples  share"]
    out += [f"  {name:38s} {n:6d}  {100 * n / total:5.1f}%" for name, n in phases.most_common()]
    out += ["", "self samples by package/module"]
    out += [f"  {n:6d}  {100 * n / total:5.1f}%  {name}" for name, n in packages.most_common(15)]
    out += ["", "hottest functions (self)"]
    out += [f"  {n:6d}  {100 * n / total:5.1f}%  {name}" for name, n in leaf.most_common(top)]
    return "\n".join(out)


def command_for(args: argparse.Namespace, fleet: harness.Fleet, tmp: Path) -> list[str]:
    """The argv to profile: rmmctl with `-i INVENTORY` added, or the bare pool on the same hosts."""
    rm_args = args.rmmctl_args[1:] if args.rmmctl_args[:1] == ["--"] else args.rmmctl_args
    if args.bare:
        spec = harness.host_spec(fleet, args.hosts, tmp / "spec.json")
        stdin = ["--stdin", args.bare_stdin] if args.bare_stdin else []
        return [sys.executable, str(harness.BENCH_DIR / "bare_pool.py"), str(spec), *stdin, "--", *rm_args]
    inventory = fleet.write_inventory(tmp / "inventory.yaml")
    return [*harness.rmmctl_argv(), rm_args[0], "-i", str(inventory), *rm_args[1:]]


def main() -> int:
    """Start the fleet, profile the command once (after one warm-up run), print the analysis."""
    parser = argparse.ArgumentParser(description="py-spy profile of one rmmctl command on the fleet")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--rev", help="profile rmmctl at this git revision")
    parser.add_argument("--rate", type=int, default=500, help="samples per second (default 500)")
    parser.add_argument("--idle", action="store_true", help="include idle (waiting) samples: wall time")
    parser.add_argument("--apt-shim", action="store_true", help="give hosts the status benchmark's apt shim")
    parser.add_argument("--bare", action="store_true", help="profile bare_pool.py instead; args = its command")
    parser.add_argument("--bare-stdin", help="with --bare: a file to send as the command's stdin")
    parser.add_argument("rmmctl_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if not PY_SPY.exists():
        print(f"{PY_SPY} missing: run benchmarks/setup_venv.sh", file=sys.stderr)
        return 2
    fixtures = None
    if args.apt_shim:
        from bench_status import apt_fixtures

        fixtures = apt_fixtures(args.hosts)
    with harness.running_fleet(args.hosts, fixtures) as fleet, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = harness.hermetic_env(tmp / "home")
        print(f"rmmctl: {harness.use_revision(env, args.rev, tmp)}", file=sys.stderr)
        argv = command_for(args, fleet, tmp)
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)  # warm-up
        out = harness.BENCH_DIR / "results"
        out.mkdir(exist_ok=True)
        label = "bare" if args.bare else argv[2]
        raw = out / f"profile-{label}-{args.hosts}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        spy = [str(PY_SPY), "record", "-r", str(args.rate), "--threads", "--nonblocking", "--format", "raw",
               "-o", str(raw)] + (["--idle"] if args.idle else [])
        subprocess.run([*spy, "--", *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
    print(analyse(raw, rate=args.rate))
    print(f"\ncollapsed stacks: {raw}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
