"""Issue 8: a 5-task playbook with `rmmctl play` vs `ansible-playbook` on the same fleet.

    python benchmarks/bench_play.py [--hosts 20,100] [--repeat 3] [--ansible-repeat 1]
                                    [--rt] [--rtt 50] [--rtt-high 250] [--rt-hosts 5] [--rev REV]

ONE playbook file runs under both tools (a list of one play, `hosts: all`, no facts gathered:
ANSIBLE_GATHERING=explicit): command, copy (content), lineinfile (create), shell, command. Every host
writes its own files (/tmp/rmmctl-bench-play/HOST.motd, HOST.conf), and the folder is emptied before
every measured run, so each run does the same changing work (copy and lineinfile report changed); the
converged round-trip count runs over what the play left (copy and lineinfile ok).

Measured per N: wall time, client CPU (ansible's ssh ControlPersist masters included: they do its SSH
crypto), sshd CPU, and remote commands per host: rmmctl's from the audit rows of the run in its history
database (every exec, put and get is audited), ansible's by counting `SSH: EXEC` lines of one extra,
untimed `-vvv` run. ansible-playbook runs with pipelining on and `-f 50` (as the issue asks).

`--rt` also counts round trips per host through the latency proxy (see bench_wan.py): forks 1 over
--rt-hosts hosts at two RTTs; (wall_high - wall_low) / RTT difference / hosts. Minus the round trips of
`rmmctl run -- true` (connect + one command) this gives what the tasks cost on an open connection.

Needs root (the fleet uses unshare) and, for ansible, benchmarks/setup_venv.sh. Stops the fleet by PID.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

import harness
from bench_status import ansible_env, ansible_files, stop_ssh_masters
from harness import BenchError, Sample

FORKS = 50
TASKS = 5
PR_SET_CHILD_SUBREAPER = 36
ANSIBLE_PLAYBOOK = harness.BENCH_DIR / ".venv" / "bin" / "ansible-playbook"
WORK = Path("/tmp/rmmctl-bench-play")

PLAYBOOK = """\
# The benchmark's playbook: the same file runs under rmmctl play and ansible-playbook.
- name: bench
  hosts: all
  tasks:
    - name: kernel
      command: uname -r
    - name: banner
      copy:
        content: "This machine is looked after by the benchmark.\\n"
        dest: "{work}/{{{{ inventory_hostname }}}}.motd"
        mode: "0644"
    - name: contact line
      lineinfile:
        path: "{work}/{{{{ inventory_hostname }}}}.conf"
        line: "contact=noc@example.com"
        create: true
    - name: root filesystem
      shell: "df -P / | tail -n 1"
    - name: show the banner
      command: "cat {work}/{{{{ inventory_hostname }}}}.motd"
"""


def reset_work() -> None:
    """Empty the per-host files so every measured run does the same changing work."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(mode=0o755)


def check_rmmctl(names: list[str]) -> harness.Checker:
    def check(out: bytes, err: bytes, code: int) -> None:
        if code != 0:
            raise BenchError(f"rmmctl play exited {code}: {err.decode(errors='replace')[-400:]}")
        doc = json.loads(out)
        hosts = {h["name"]: h for h in doc["hosts"]}
        for name in names:
            h = hosts.get(name)
            recap = (h or {}).get("data", {}).get("recap", {})
            if not h or h["status"] != "changed" or recap.get("failed") or recap.get("changed", 0) < 2:
                raise BenchError(f"rmmctl: {name} did not do the work: {json.dumps(h)[:300]}")
    return check


def check_converged(names: list[str]) -> harness.Checker:
    """A second run over what the first left: every task ok but the commands (changed, as in Ansible)."""
    def check(out: bytes, err: bytes, code: int) -> None:
        hosts = {h["name"]: h for h in json.loads(out)["hosts"]}
        for name in names:
            tasks = hosts[name]["data"]["tasks"]
            if code != 0 or [t["status"] for t in tasks if t["module"] in ("copy", "lineinfile")] != ["ok", "ok"]:
                raise BenchError(f"rmmctl converged run: {name}: {json.dumps(tasks)[:300]}")
    return check


_RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def check_ansible(names: list[str]) -> harness.Checker:
    def check(out: bytes, err: bytes, code: int) -> None:
        text = out.decode(errors="replace")
        rows = {m.group(1): m for m in _RECAP.finditer(text)}
        for name in names:
            m = rows.get(name)
            if code != 0 or not m or int(m.group(4)) or int(m.group(5)) or int(m.group(2)) != TASKS:
                raise BenchError(f"ansible-playbook: {name} did not do the work (exit {code}): "
                                 f"{text[-400:]}{err.decode(errors='replace')[-300:]}")
    return check


def playbook_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    return {**ansible_env(env, tmp), "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_GATHERING": "explicit"}


def rmmctl_commands_per_host(db: Path) -> float:
    """Audit rows of the newest run per host (exec, put, get), averaged over its hosts."""
    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute("SELECT max(id) FROM runs").fetchone()
        rows = conn.execute("SELECT host, count(*) FROM audit WHERE run_id = ? GROUP BY host", (run_id,)).fetchall()
    return statistics.mean(c for _, c in rows) if rows else 0.0


def ansible_commands_per_host(argv: list[str], env: dict[str, str], names: list[str], fleet: harness.Fleet) -> float:
    """One untimed -vvv run: `SSH: EXEC` lines per host (each is one ssh command)."""
    import subprocess

    reset_work()
    out = subprocess.run([*argv, "-vvv"], env=env, capture_output=True, text=True, check=False).stdout
    stop_ssh_masters(env, fleet)
    counts = {n: len(re.findall(rf"^<{re.escape(_address(fleet, n))}> SSH: EXEC", out, re.M)) for n in names}
    if not all(counts.values()):
        raise BenchError(f"ansible -vvv: no SSH: EXEC lines for some hosts: {counts}")
    return statistics.mean(counts.values())


def _address(fleet: harness.Fleet, name: str) -> str:
    return next(h.address for h in fleet.hosts if h.name == name)


def tools_for(fleet: harness.Fleet, n: int, tmp: Path, env: dict[str, str], book: Path
              ) -> dict[str, tuple[list[str], harness.Checker, dict[str, str]]]:
    inventory = fleet.write_inventory(tmp / f"inventory-{n}.yaml", hosts=range(1, n + 1))
    names = [h.name for h in fleet.hosts[:n]]
    out = {"rmmctl play": ([*harness.rmmctl_argv(), "play", str(book), "-i", str(inventory), "-o", "json",
                            "-f", str(FORKS), "--yes"], check_rmmctl(names), env)}
    if ANSIBLE_PLAYBOOK.exists():
        out["ansible-playbook"] = ([str(ANSIBLE_PLAYBOOK), "-i", str(ansible_files(fleet, n, tmp)), str(book),
                                    "-f", str(FORKS)], check_ansible(names), playbook_env(env, tmp))
    return out


def measure(tool: str, n: int, spec: tuple[list[str], harness.Checker, dict[str, str]],
            fleet: harness.Fleet, *, reset: bool = True) -> Sample:
    argv, check, env = spec
    if reset:
        reset_work()
    if tool.startswith("ansible"):
        return harness.measure(tool, n, argv, env, fleet, check, after=lambda: stop_ssh_masters(env, fleet))
    return harness.measure(tool, n, argv, env, fleet, check)


def round_trips(fleet: harness.Fleet, args: argparse.Namespace, tmp: Path, env: dict[str, str],
                book: Path) -> dict[str, float]:
    """Round trips per host (forks 1, --rt-hosts hosts, two RTTs) of the play and of `run -- true`."""
    from bench_wan import Proxy, proxied_files

    k = args.rt_hosts
    proxy = Proxy(args.proxy, fleet, k, args.rtt)
    try:
        files = proxied_files(fleet, proxy, k, tmp)
        rmm = harness.rmmctl_argv()
        names = [h.name for h in fleet.hosts[:k]]
        specs = {
            "rmmctl play": ([*rmm, "play", str(book), "-i", str(files["inventory"]), "-o", "json", "-f", "1", "--yes"],
                            check_rmmctl(names), env),
            "rmmctl play (converged)": ([*rmm, "play", str(book), "-i", str(files["inventory"]), "-o", "json", "-f",
                                         "1", "--yes"], check_converged(names), env),
            "rmmctl run -- true": ([*rmm, "run", "all", "-i", str(files["inventory"]), "-o", "json", "-f", "1", "--",
                                    "true"], lambda out, err, code: None, env),
        }
        walls: dict[str, dict[float, list[float]]] = {t: {args.rtt: [], args.rtt_high: []} for t in specs}
        for rtt in (args.rtt, args.rtt_high):
            proxy.set_rtt(rtt)
            for tool, spec in specs.items():
                for _ in range(args.repeat):
                    converged = tool.endswith("(converged)")
                    if converged:  # the files as the play leaves them: every task ok
                        measure("rmmctl play", k, specs["rmmctl play"], fleet)
                    s = measure(tool, k, spec, fleet, reset=not converged)
                    walls[tool][rtt].append(s.wall_s)
                    print(f"  rtt={rtt:g} ms {tool} x{k}, forks 1: {s.wall_s:.3f} s", file=sys.stderr)
        out = {}
        for tool, by in walls.items():
            low, high = statistics.median(by[args.rtt]), statistics.median(by[args.rtt_high])
            out[tool] = (high - low) / ((args.rtt_high - args.rtt) / 1000) / k
        return out
    finally:
        proxy.stop()


def bench(args: argparse.Namespace) -> tuple[list[Sample], dict[str, object]]:
    counts = sorted(int(x) for x in args.hosts.split(","))
    samples: list[Sample] = []
    notes: dict[str, object] = {"commands_per_host": {}, "ansible": str(ANSIBLE_PLAYBOOK) if ANSIBLE_PLAYBOOK.exists()
                                else "not installed (benchmarks/setup_venv.sh)"}
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with harness.running_fleet(max(counts)) as fleet, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = harness.hermetic_env(tmp / "home")
        notes["rmmctl"] = harness.use_revision(env, args.rev, tmp)
        book = tmp / "bench.yaml"
        book.write_text(PLAYBOOK.format(work=WORK))
        print(f"rmmctl: {notes['rmmctl']}", file=sys.stderr)
        try:
            for n in counts:
                tools = tools_for(fleet, n, tmp, env, book)
                measure("rmmctl play", n, tools["rmmctl play"], fleet)  # warm-up, discarded
                for i in range(args.repeat):
                    for tool, spec in tools.items():
                        if tool.startswith("ansible") and i >= args.ansible_repeat:
                            continue
                        s = measure(tool, n, spec, fleet)
                        samples.append(s)
                        print(f"  N={n} {tool}: {s.wall_s:.3f} s wall, {s.cpu_s:.2f} s CPU, sshd {s.server_cpu_s:.2f} s",
                              file=sys.stderr)
                        if tool == "rmmctl play":
                            notes["commands_per_host"][f"{n} rmmctl play"] = rmmctl_commands_per_host(  # type: ignore[index]
                                Path(env["RMMCTL_DB"]))
                if "ansible-playbook" in tools:
                    argv, _, aenv = tools["ansible-playbook"]
                    notes["commands_per_host"][f"{n} ansible-playbook"] = ansible_commands_per_host(  # type: ignore[index]
                        argv, aenv, [h.name for h in fleet.hosts[:n]], fleet)
            if args.rt:
                notes["round_trips"] = round_trips(fleet, args, tmp, env, book)
        finally:
            shutil.rmtree(WORK, ignore_errors=True)
    return samples, notes


def _default_proxy() -> Path:
    """latency_proxy.py beside the repository (or beside the folder of worktrees it is in)."""
    for base in (harness.REPO.parent, harness.REPO.parent.parent):
        path = base / "shared" / "tools" / "latency_proxy.py"
        if path.exists():
            return path
    return harness.REPO.parent / "shared" / "tools" / "latency_proxy.py"


def main() -> int:
    parser = argparse.ArgumentParser(description="rmmctl play vs ansible-playbook, a 5-task playbook")
    parser.add_argument("--hosts", default="20,100", help="comma-separated host counts (default 20,100)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ansible-repeat", type=int, default=1)
    parser.add_argument("--rt", action="store_true", help="also count round trips per host (latency proxy)")
    parser.add_argument("--rtt", type=float, default=50.0)
    parser.add_argument("--rtt-high", type=float, default=250.0)
    parser.add_argument("--rt-hosts", type=int, default=5)
    parser.add_argument("--proxy", type=Path, default=_default_proxy(), help="path to latency_proxy.py")
    parser.add_argument("--rev", help="measure rmmctl at this git revision (git archive), not the working tree")
    args = parser.parse_args()
    if args.rt and not args.proxy.exists():
        parser.error(f"{args.proxy} missing: pass --proxy PATH to latency_proxy.py (or drop --rt)")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    done = harness.run_and_print(lambda: bench(args))
    if isinstance(done, int):
        return done
    samples, summary, notes = done
    print("\n| N | tool | wall s | client CPU ms/host | sshd CPU ms/host | remote commands/host | vs ansible |\n"
          "|---:|---|---:|---:|---:|---:|---:|")
    for (n, tool), m in sorted(summary.items()):
        base = summary.get((n, "ansible-playbook"))
        ratio = f"{base['wall_s'] / m['wall_s']:.1f}x faster" if base and tool != "ansible-playbook" else "-"
        cmds = notes["commands_per_host"].get(f"{n} {tool}")  # type: ignore[union-attr]
        print(f"| {n} | {tool} | {m['wall_s']:.3f} | {1000 * m['cpu_s'] / n:.1f} | {1000 * m['server_cpu_s'] / n:.1f} | "
              f"{cmds:.1f} | {ratio} |" if cmds is not None else
              f"| {n} | {tool} | {m['wall_s']:.3f} | {1000 * m['cpu_s'] / n:.1f} | {1000 * m['server_cpu_s'] / n:.1f} | - | {ratio} |")
    if "round_trips" in notes:
        rt = notes["round_trips"]
        base = rt["rmmctl run -- true"]  # type: ignore[index]
        print(f"\nround trips per host: run -- true (connect + one command) {base:.2f}")
        for tool in ("rmmctl play", "rmmctl play (converged)"):
            print(f"{tool}: {rt[tool]:.2f} per host; the {TASKS} tasks on the open connection: "  # type: ignore[index]
                  f"{rt[tool] - base + 1:.2f}")  # type: ignore[index]
    path = harness.save_results("play", {"machine": harness.machine(), "args": vars(args), "samples": samples,
                                         "summary": {f"{n} {t}": m for (n, t), m in summary.items()}, "notes": notes})
    print(f"\nraw results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
