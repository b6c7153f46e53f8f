"""Issue 9: `rmmctl status` over N Windows hosts on the WS-Management double, with WAN latency.

    python benchmarks/bench_winrm.py [--hosts 50] [--latency-ms 20] [--repeat 3] [--forks 50]

Each host is its own FakeWinRM double (tests/winrm_double: the real WS-Man shell protocol over HTTP to
the real pywinrm client, Basic auth over HTTP on 127.0.0.1) answering rmmctl's Windows probe from the
PowerShell 5.1 fixtures, and sleeping `--latency-ms` before every reply (a round trip to a client site).
The doubles run in this process (threads); rmmctl runs as a child process, so its CPU (os.wait4) is the
client's alone (os.times of reaped children).

Measured per run: wall time, client CPU per host, HTTP requests per host and the WS-Man actions behind
them (Create, Command, Send, Receive, Signal, Delete; the target: one shell, one command, the fewest
Receives the output allows), shells left open (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO / "tests"))

from winfleet import PASSWORD, PASSWORD_ENV, WinFleet, windows_inventory  # noqa: E402


def run_once(wf: WinFleet, inv: Path, env: dict[str, str], forks: int) -> dict[str, float]:
    for srv in wf.doubles.values():
        with srv.lock:
            srv.requests, srv.log[:] = 0, []
    argv = [sys.executable, "-m", "rmmctl", "status", "all", "-i", str(inv), "-o", "json", "--forks", str(forks)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=600)
    wall = time.monotonic() - started
    doc = json.loads(out)
    bad = [h["name"] for h in doc["hosts"] if h["status"] not in ("ok", "warn", "crit")]
    if bad:
        raise SystemExit(f"hosts not probed: {bad}: {err.decode()[-500:]}")
    n = len(wf.doubles)
    actions = Counter(a for srv in wf.doubles.values() for a in srv.log)
    return {"wall_s": wall, "requests_per_host": sum(s.requests for s in wf.doubles.values()) / n,
            **{f"{a}_per_host": c / n for a, c in sorted(actions.items())},
            "open_shells": float(sum(len(s.shells) for s in wf.doubles.values()))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--forks", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, WinFleet(args.hosts, latency_s=args.latency_ms / 1000) as wf:
        inv = windows_inventory(Path(tmp) / "inv.yaml", wf)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RMMCTL_")}
        env.update({PASSWORD_ENV: PASSWORD, "RMMCTL_DB": str(Path(tmp) / "h.db"), "HOME": tmp, "NO_COLOR": "1",
                    "PYTHONPATH": str(REPO / "src")})
        rows, cpu = [], []
        for _ in range(args.repeat):
            before = os.times()
            rows.append(run_once(wf, inv, env, args.forks))
            after = os.times()
            cpu.append((after.children_user + after.children_system - before.children_user
                        - before.children_system) / args.hosts)
        wf.check_clean()
    keys = rows[0].keys()
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    print(f"rmmctl status, {args.hosts} Windows hosts on the double, {args.latency_ms:g} ms per request, "
          f"forks {args.forks}, median of {args.repeat}:")
    print(f"  wall {med['wall_s']:.2f} s, client CPU {statistics.median(cpu) * 1000:.1f} ms per host")
    print("  per host: " + ", ".join(f"{k.removesuffix('_per_host')} {v:g}" for k, v in med.items()
                                     if k.endswith("_per_host")))
    print(f"  shells left open: {med['open_shells']:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
