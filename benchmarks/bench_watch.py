"""Issue 10: `rmmctl watch` rounds on open connections over N real sshd hosts.

    python benchmarks/bench_watch.py [--hosts 100] [--rounds 10] [--forks 50]

Runs what `rmmctl watch` runs, in this process and without the screen: one executor that keeps its
transports (api.make_executor(keep=True)), a first round that connects to every host, then `--rounds`
rounds of the status probe (health.status_job) on the open connections, nothing recorded in the history
(watch records one round in five minutes by default). Every fleet host gets the apt shim of
bench_status.py (a real `apt list` costs ~1 s of server CPU per probe).

Measured per round: wall time and this process's CPU (time.process_time: every thread, paramiko's
included; the sshd hosts are other processes), SSH handshakes (counted at the handshake function, so any
reconnect counts), the fleet's sshd CPU (server side) and its session processes before and after.
Target: <= 1.5 ms client CPU per host per round, no handshake after the first round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this tree's rmmctl, before fleet imports one

import harness  # noqa: E402
from bench_status import apt_fixtures  # noqa: E402

from rmmctl import api  # noqa: E402
from rmmctl.health import watch_job  # noqa: E402
from rmmctl.inventory.load import load_inventory  # noqa: E402
from rmmctl.models import Status  # noqa: E402
from rmmctl.transports.ssh import connection  # noqa: E402
from rmmctl.watch import Watch  # noqa: E402

ANSWERED = (Status.OK, Status.WARN, Status.CRIT)


def count_handshakes() -> list[int]:
    """Wrap the SSH handshake so every one (connect or reconnect) is counted."""
    counter = [0]
    original = connection.start_ssh

    def counted(*args: object, **kwargs: object) -> object:
        counter[0] += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    connection.start_ssh = counted  # type: ignore[assignment]
    return counter


def server_side(fleet: harness.Fleet) -> tuple[int, float]:
    """(sshd session processes across the fleet, CPU seconds of every process in the hosts' namespaces with
    their reaped children): one /proc scan. Sessions are the processes named sshd* besides the listeners;
    the probe shells a session ran are in its reaped-children CPU once they ended."""
    listeners = set(fleet.sshd_pids())
    spaces = {ns for ns in map(_ns, listeners) if ns}
    count, ticks = 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or _ns(int(entry.name)) not in spaces:
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text()
        except OSError:
            continue
        ticks += sum(int(x) for x in stat[11:15])
        count += int(entry.name) not in listeners and comm.startswith("sshd")
    return count, ticks / harness.CLK_TCK


def sessions(fleet: harness.Fleet) -> int:
    return server_side(fleet)[0]


def _ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/uts")
    except OSError:
        return None


def bench(n: int, rounds: int, forks: int) -> dict[str, object]:
    handshakes = count_handshakes()
    with harness.running_fleet(n, apt_fixtures(n, real=0)) as fleet, tempfile.TemporaryDirectory() as tmp:
        inv = fleet.write_inventory(Path(tmp) / "inv.yaml")
        inventory = load_inventory(inv)
        settings = api.RunSettings(forks=forks, command_timeout=60.0)
        hosts = api.resolve_hosts(inventory, "all")
        executor = api.make_executor(inventory, settings, keep=True)
        session = Watch(hosts, executor, interval=0.0, record_every=None)

        def run(chosen: object, job: object, record: bool) -> object:
            return api.execute_on("watch", chosen, job, settings, executor)  # type: ignore[arg-type]

        samples = []
        job = watch_job()  # as `rmmctl watch` runs it: the slow sections only in the first round here
        try:
            for i in range(rounds + 1):
                srv0 = server_side(fleet)[1]
                cpu0, wall0, hs0 = time.process_time(), time.monotonic(), handshakes[0]
                report = session.round(run, job)
                wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
                bad = [h.name for h in report.hosts if h.status not in ANSWERED]  # type: ignore[union-attr]
                if bad:
                    raise harness.BenchError(f"round {i}: hosts did not answer: {bad[:5]}")
                open_sessions, srv1 = server_side(fleet)
                samples.append({"round": i, "wall_s": wall, "cpu_s": cpu, "handshakes": handshakes[0] - hs0,
                                "sshd_cpu_s": srv1 - srv0, "sessions": open_sessions})
        finally:
            session.close()
        end = time.monotonic() + 5
        while sessions(fleet) and time.monotonic() < end:
            time.sleep(0.05)
        left = sessions(fleet)
    later = samples[1:]
    return {
        "hosts": n, "forks": forks, "rounds": rounds, "samples": samples,
        "first_round": samples[0],
        "wall_per_round_s_median": statistics.median(s["wall_s"] for s in later),
        "client_cpu_ms_per_host_round_median": statistics.median(s["cpu_s"] for s in later) * 1000 / n,
        "client_cpu_ms_per_host_round_mean": statistics.mean(s["cpu_s"] for s in later) * 1000 / n,
        "sshd_cpu_ms_per_host_round_median": statistics.median(s["sshd_cpu_s"] for s in later) * 1000 / n,
        "handshakes_after_first_round": sum(s["handshakes"] for s in later),
        "sessions_after_close": left,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--forks", type=int, default=50)
    args = ap.parse_args()
    try:
        result = bench(args.hosts, args.rounds, args.forks)
    except harness.BenchError as exc:
        print(f"benchmark FAILED: {exc}", file=sys.stderr)
        return 1
    first = result["first_round"]
    print(f"watch, {args.hosts} hosts, forks {args.forks}: first round (connects) {first['wall_s']:.2f} s wall, "  # type: ignore[index]
          f"{first['cpu_s'] * 1000 / args.hosts:.2f} ms client CPU per host, {first['handshakes']} handshakes")  # type: ignore[index]
    print("| round | wall s | client CPU s | client CPU ms/host | server CPU ms/host | handshakes | sshd sessions |")
    print("|---|---|---|---|---|---|---|")
    for s in result["samples"]:  # type: ignore[union-attr]
        print(f"| {s['round']} | {s['wall_s']:.3f} | {s['cpu_s']:.3f} | {s['cpu_s'] * 1000 / args.hosts:.2f} | "
              f"{s['sshd_cpu_s'] * 1000 / args.hosts:.1f} | {s['handshakes']} | {s['sessions']} |")
    print(f"rounds 1..{args.rounds} on open connections: wall per round (median) "
          f"{result['wall_per_round_s_median']:.3f} s, client CPU per host per round median "
          f"{result['client_cpu_ms_per_host_round_median']:.2f} ms (mean {result['client_cpu_ms_per_host_round_mean']:.2f}),"
          f" server CPU (sshd + probe) per host per round {result['sshd_cpu_ms_per_host_round_median']:.1f} ms, handshakes after the "
          f"first round: {result['handshakes_after_first_round']}, sshd sessions after close: "
          f"{result['sessions_after_close']}")
    path = harness.save_results("watch", {"machine": harness.machine(), **result})
    print(f"saved {path}")
    ok = result["handshakes_after_first_round"] == 0 and result["sessions_after_close"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
