"""Issue 3: time `rmmctl status all` beside a bare paramiko pool (same probe) and `ansible all -m setup`.

    benchmarks/setup_venv.sh        # once: ansible-core in benchmarks/.venv
    python benchmarks/bench_status.py [--hosts 20,100] [--repeat 3] [--ansible-hosts 20,100]

Starts ONE fleet of max(N) hosts. Every host but the first --real-apt (default 2) gets an `apt` shim on
/usr/local/bin that lists 2 upgradable packages, so the updates section measures rmmctl, not 100 real
`apt list` runs; the real-apt hosts keep the real path in the run. Per N, in alternating order:
`rmmctl status all -i INV -o json -f 50`, `bare_pool.py` sending the very same probe script
(rmmctl.probes.linux.bundle.build_script(rmmctl.health.STATUS_SECTIONS) to `sh -s` on stdin), and
`ansible all -i INV.ini -m setup -f 50` (defaults: gather_subset all, ssh with ControlPersist;
host keys checked against the fleet's known_hosts). Ansible runs --ansible-repeat times (default 1)
and is skipped at an N where its time, extrapolated from a smaller N, passes --ansible-max-s.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
from harness import BenchError, FixtureSpec, Fleet, Sample

FORKS = 50
NONCE = "benchstatus0123456789"
ANSIBLE = harness.BENCH_DIR / ".venv" / "bin" / "ansible"
APT_SHIM = """#!/bin/sh
echo 'Listing...'
echo 'tzdata/stable-updates 2025b-0+deb12u1 all [upgradable from: 2025a-0+deb12u1]'
echo 'curl/stable 7.88.1-10+deb12u12 amd64 [upgradable from: 7.88.1-10+deb12u11]'
"""
PR_SET_CHILD_SUBREAPER = 36


def apt_fixtures(n: int, real: int = 2) -> dict[str, FixtureSpec]:
    """The apt shim for fleet hosts real+1..n (hosts 1..real keep the real apt)."""
    return {f"fleet-{i:02d}": FixtureSpec(bin={"apt": APT_SHIM}) for i in range(real + 1, n + 1)}


def probe_script(env: dict[str, str], path: Path) -> tuple[list[str], str]:
    """Build the status probe with the measured rmmctl revision: (its sections, the remote command)."""
    code = ("import json, sys\nfrom rmmctl.health import STATUS_SECTIONS\nfrom rmmctl.probes.linux import bundle\n"
            f"open({str(path)!r}, 'w').write(bundle.build_script(STATUS_SECTIONS, nonce={NONCE!r}))\n"
            "print(json.dumps([list(STATUS_SECTIONS), bundle.COMMAND]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    sections, command = json.loads(out.stdout)
    return sections, command


def check_rmmctl(names: list[str]) -> harness.Checker:
    """Every host judged (ok/warn/crit), its own hostname, no probe section errors, updates counted."""

    def ok(h: dict) -> bool:
        data = h.get("data") or {}
        summary = data.get("summary") or {}
        return (h["status"] in ("ok", "warn", "crit") and summary.get("hostname") == h["name"]
                and not data.get("errors") and summary.get("updates") is not None)

    return harness.check_rmmctl(names, ok, codes=(0, 4, 5))


def check_bare(names: list[str], sections: list[str]) -> harness.Checker:
    """Every host ran the whole probe: each section closed (rc 0, or 3 = unavailable), updates rc 0."""

    def ok(name: str, stdout: str) -> bool:
        ends = {ln.split()[2]: ln.split()[3] for ln in stdout.splitlines() if ln.startswith(f"@@{NONCE} END ")}
        return (f"@@{NONCE} DONE" in stdout and name in stdout and ends.get("updates") == "0"
                and all(ends.get(s) in ("0", "3") for s in sections))

    return harness.check_bare(names, ok)


def check_ansible(names: list[str]) -> harness.Checker:
    """ansible exited 0 and every host returned facts with its own hostname (oneline stdout callback:
    `NAME | SUCCESS => {json}` per host)."""

    def check(out: bytes, err: bytes, code: int) -> None:
        if code != 0:
            raise BenchError(f"ansible exited {code}: {(out + err).decode(errors='replace')[-1500:]}")
        facts: dict[str, dict] = {}
        for line in out.decode(errors="replace").splitlines():
            head, sep, doc = line.partition(" => ")
            if sep and head.endswith(" | SUCCESS"):
                facts[head.split(" | ")[0]] = json.loads(doc).get("ansible_facts") or {}
        for name in names:
            if (facts.get(name) or {}).get("ansible_hostname") != name:
                raise BenchError(f"ansible: host {name} gave no facts or the wrong hostname")

    return check


def ansible_files(fleet: Fleet, n: int, tmp: Path) -> Path:
    """An INI inventory for the first n hosts: key, user, strict host keys against the fleet's known_hosts."""
    ssh_args = (f"-o UserKnownHostsFile={fleet.known_hosts} -o GlobalKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=yes")
    lines = ["[fleet]"] + [f"{h.name} ansible_host={h.address} ansible_port={h.port}" for h in fleet.hosts[:n]]
    lines += ["", "[fleet:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={fleet.client_key}",
              f"ansible_ssh_common_args='{ssh_args}'", ""]
    path = tmp / f"ansible-{n}.ini"
    path.write_text("\n".join(lines))
    return path


def ansible_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """Ansible's settings for the benchmark: one line per host, no colour, control sockets in a private dir."""
    control = tmp / "ansible-cp"
    control.mkdir(exist_ok=True)
    return {**env, "ANSIBLE_PYTHON_INTERPRETER": "auto_silent", "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "oneline", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control), "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
            "ANSIBLE_DEPRECATION_WARNINGS": "False", "ANSIBLE_CONFIG": str(tmp / "no-ansible.cfg")}


def stop_ssh_masters(env: dict[str, str], fleet: Fleet) -> float:
    """Close ansible's ControlPersist ssh masters (ssh -O exit) and reap them; return their CPU seconds.

    The masters do all of ansible's SSH crypto but detach from it; this process is their subreaper,
    so they come back here and their CPU is added to ansible's.
    """
    control = Path(env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
    for sock in control.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "fleet"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=10)
    cpu = 0.0
    keep = set(fleet.sshd_pids())
    for pid in _children() - keep:
        try:
            _, _, ru = os.wait4(pid, 0)
        except ChildProcessError:
            continue
        cpu += ru.ru_utime + ru.ru_stime
    return cpu


def _children() -> set[int]:
    """PIDs whose parent is this process."""
    me, out = str(os.getpid()), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:
                out.add(int(entry.name))
    return out


def tools_for(fleet: Fleet, n: int, tmp: Path, env: dict[str, str]) -> dict[str, tuple[list[str], harness.Checker]]:
    """rmmctl status and the bare pool for N hosts, with their checkers."""
    inventory = fleet.write_inventory(tmp / f"inventory-{n}.yaml", hosts=range(1, n + 1))
    spec = harness.host_spec(fleet, n, tmp / f"spec-{n}.json")
    script = tmp / "probe.sh"
    sections, command = probe_script(env, script)
    names = [h.name for h in fleet.hosts[:n]]
    rmmctl = [*harness.rmmctl_argv(), "status", "all", "-i", str(inventory), "-o", "json", "-f", str(FORKS)]
    bare = [sys.executable, str(harness.BENCH_DIR / "bare_pool.py"), str(spec), "--workers", str(FORKS),
            "--stdin", str(script), "--", command]
    return {"rmmctl status": (rmmctl, check_rmmctl(names)), "bare paramiko pool": (bare, check_bare(names, sections))}


def run_ansible(fleet: Fleet, n: int, tmp: Path, env: dict[str, str]) -> Sample:
    """One `ansible all -m setup -f 50` run, its ssh masters' CPU included."""
    aenv = ansible_env(env, tmp)
    argv = [str(ANSIBLE), "all", "-i", str(ansible_files(fleet, n, tmp)), "-m", "setup", "-f", str(FORKS)]
    masters: list[float] = []

    def after() -> float:
        masters.append(stop_ssh_masters(aenv, fleet))
        return masters[0]

    try:
        sample = harness.measure("ansible -m setup", n, argv, aenv, fleet,
                                 check_ansible([h.name for h in fleet.hosts[:n]]), after=after)
    finally:
        if not masters:
            stop_ssh_masters(aenv, fleet)
    print(f"  N={n} ansible: {sample.wall_s:.3f} s wall, {sample.cpu_s:.2f} s CPU (ssh masters {masters[0]:.2f}), "
          f"{sample.rss_mb:.0f} MB, sshd {sample.server_cpu_s:.2f} s", file=sys.stderr)
    return sample


def bench(args: argparse.Namespace) -> tuple[list[Sample], dict[str, object]]:
    """Run every tool per N on one fleet; return the samples and notes."""
    counts = [int(x) for x in args.hosts.split(",")]
    ansible_counts = [int(x) for x in args.ansible_hosts.split(",") if x] if ANSIBLE.exists() else []
    samples: list[Sample] = []
    notes: dict[str, object] = {"ansible_skipped": {}}
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    fixtures = apt_fixtures(max(counts), args.real_apt)
    with harness.running_fleet(max(counts), fixtures, keep=args.keep) as fleet, \
            tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = harness.hermetic_env(tmp / "home")
        notes["rmmctl"] = harness.use_revision(env, args.rev, tmp)
        print(f"rmmctl: {notes['rmmctl']}", file=sys.stderr)
        last_ansible: tuple[int, float] | None = None
        for n in sorted(counts):
            tools = tools_for(fleet, n, tmp, env)
            for tool, (argv, check) in tools.items():  # warm-up, discarded
                harness.measure(tool, n, argv, env, fleet, check)
            for i in range(args.repeat):
                order = list(tools.items()) if i % 2 == 0 else list(reversed(tools.items()))
                for tool, (argv, check) in order:
                    s = harness.measure(tool, n, argv, env, fleet, check)
                    print(f"  N={n} {tool}: {s.wall_s:.3f} s wall, {s.cpu_s:.2f} s CPU, {s.rss_mb:.0f} MB, "
                          f"sshd {s.server_cpu_s:.2f} s", file=sys.stderr)
                    samples.append(s)
            if n in ansible_counts:
                predicted = last_ansible[1] * n / last_ansible[0] if last_ansible else 0.0
                if predicted > args.ansible_max_s:
                    notes["ansible_skipped"][n] = (f"skipped: {predicted:.0f} s predicted from N={last_ansible[0]}"  # type: ignore[index]
                                                   f" (limit --ansible-max-s {args.ansible_max_s:.0f})")
                else:
                    runs = [run_ansible(fleet, n, tmp, env) for _ in range(args.ansible_repeat)]
                    samples += runs
                    last_ansible = (n, min(r.wall_s for r in runs))
        notes["phases"] = {n: harness.phase_run(fleet, n, env, *tools_for(fleet, n, tmp, env).values())
                           for n in sorted(counts)}
    return samples, notes


def main() -> int:
    """Parse arguments, run, print the tables."""
    parser = argparse.ArgumentParser(description="rmmctl status vs a bare paramiko pool and ansible -m setup")
    parser.add_argument("--hosts", default="20,100", help="comma-separated host counts (default 20,100)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ansible-hosts", default="20,100", help="the Ns to run ansible at ('' = none)")
    parser.add_argument("--ansible-repeat", type=int, default=1)
    parser.add_argument("--ansible-max-s", type=float, default=300.0,
                        help="skip ansible at an N whose extrapolated time passes this (default 300 s)")
    parser.add_argument("--real-apt", type=int, default=2, help="hosts (the first ones) without the apt shim")
    parser.add_argument("--rev", help="measure rmmctl at this git revision (git archive), not the working tree")
    parser.add_argument("--keep", action="store_true", help="keep the fleet's temp dir (logs) afterwards")
    args = parser.parse_args()
    if args.ansible_hosts and not ANSIBLE.exists():
        print(f"{ANSIBLE} missing: run benchmarks/setup_venv.sh (or pass --ansible-hosts '')", file=sys.stderr)
        return 2
    done = harness.run_and_print(lambda: bench(args))
    if isinstance(done, int):
        return done
    samples, summary, notes = done
    for (n, tool), m in sorted(summary.items()):
        if tool == "ansible -m setup" and (n, "rmmctl status") in summary:
            rm = summary[(n, "rmmctl status")]
            print(f"N={n}: rmmctl status is {m['wall_s'] / rm['wall_s']:.1f}x faster than ansible -m setup "
                  f"(wall), {m['cpu_s'] / rm['cpu_s']:.1f}x less client CPU")
    for n, why in notes["ansible_skipped"].items():  # type: ignore[union-attr]
        print(f"ansible at N={n}: {why}")
    for n, text in notes["phases"].items():  # type: ignore[union-attr]
        print(f"\nrmmctl status phases at N={n} (one extra run under benchmarks/phases.py):\n{text}")
    path = harness.save_results("status", {"machine": harness.machine(), "argv": sys.argv, "samples": samples,
                                            "summary": {f"{n}/{t}": m for (n, t), m in summary.items()},
                                            "notes": notes})
    print(f"\nraw results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
