"""Issue 2: time `rmmctl run all -- uname -a` beside a bare paramiko thread pool, on N real sshd hosts.

    python benchmarks/bench_run.py [--hosts 20,100] [--repeat 3]

Starts ONE fleet of max(N) hosts; for each N writes an inventory of the first N hosts and runs, in
alternating order, `rmmctl run all -i INV -o json -- uname -a` and `bare_pool.py` (same key, same
known_hosts, 50 workers = rmmctl's default forks), each as a child process. One warm-up run of each
is discarded. Every host must answer with its own hostname in `uname -a` in both tools, or it fails.
Prints a markdown table (medians) and writes raw samples to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import harness
from harness import Fleet, Sample

FORKS = 50
COMMAND = ["uname", "-a"]


def check_rmmctl(names: list[str]) -> harness.Checker:
    """rmmctl exited 0 and every host is `ok` with its own hostname (uname's nodename) in stdout."""
    return harness.check_rmmctl(names, lambda h: h["status"] == "ok" and h["name"] in h["data"]["stdout"])


def check_bare(names: list[str]) -> harness.Checker:
    """The bare pool answered for every host with its own hostname in stdout."""
    return harness.check_bare(names, lambda name, stdout: name in stdout)


def tools_for(fleet: Fleet, n: int, tmp: Path, ablate: str = "",
              alt_python: str = "") -> dict[str, tuple[list[str], harness.Checker]]:
    """The commands for N hosts (rmmctl, the bare pool, and rmmctl with `ablate` patches) and their checkers."""
    inventory = fleet.write_inventory(tmp / f"inventory-{n}.yaml", hosts=range(1, n + 1))
    spec = harness.host_spec(fleet, n, tmp / f"spec-{n}.json")
    names = [h.name for h in fleet.hosts[:n]]
    rmmctl = [*harness.rmmctl_argv(), "run", "all", "-i", str(inventory), "-o", "json", "-f", str(FORKS),
              "--", *COMMAND]
    bare = [sys.executable, str(harness.BENCH_DIR / "bare_pool.py"), str(spec), "--workers", str(FORKS),
            "--", *COMMAND]
    tools = {"rmmctl": (rmmctl, check_rmmctl(names)), "bare paramiko pool": (bare, check_bare(names))}
    if ablate:
        patched = [sys.executable, str(harness.BENCH_DIR / "ablate.py"), ablate, "--", *rmmctl[2:]]
        tools[f"rmmctl + {ablate}"] = (patched, check_rmmctl(names))
    if alt_python:
        alt = harness.describe_python(alt_python)
        tools[f"rmmctl on {alt}"] = ([alt_python, *rmmctl[1:]], check_rmmctl(names))
        if ablate:
            tools[f"rmmctl + {ablate} on {alt}"] = ([alt_python, *patched[1:]], check_rmmctl(names))
    return tools


def phase_run(fleet: Fleet, n: int, tmp: Path, env: dict[str, str]) -> str:
    """One extra run of each tool, rmmctl under benchmarks/phases.py: where the wall and CPU time go."""
    tools = tools_for(fleet, n, tmp)
    return harness.phase_run(fleet, n, env, tools["rmmctl"], tools["bare paramiko pool"])


def bench(counts: list[int], repeat: int, keep: bool, rev: str | None, ablate: str = "",
          alt_python: str = "") -> tuple[list[Sample], dict[str, object]]:
    """Run every tool `repeat` times per N on one fleet; return the samples and start-up costs."""
    samples: list[Sample] = []
    with harness.running_fleet(max(counts), keep=keep) as fleet, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = harness.hermetic_env(tmp / "home")
        measured = harness.use_revision(env, rev, tmp)
        print(f"rmmctl: {measured}", file=sys.stderr)
        for n in counts:
            tools = tools_for(fleet, n, tmp, ablate, alt_python)
            for tool, (argv, check) in tools.items():  # warm-up, discarded
                harness.measure(tool, n, argv, env, fleet, check)  # type: ignore[arg-type]
            for i in range(repeat):
                order = list(tools.items()) if i % 2 == 0 else list(reversed(tools.items()))
                for tool, (argv, check) in order:
                    s = harness.measure(tool, n, argv, env, fleet, check)  # type: ignore[arg-type]
                    print(f"  N={n} {tool}: {s.wall_s:.3f} s wall, {s.cpu_s:.2f} s CPU, {s.rss_mb:.0f} MB, "
                          f"sshd {s.server_cpu_s:.2f} s", file=sys.stderr)
                    samples.append(s)
        phase_text = {}
        for n in counts:
            phase_text[n] = phase_run(fleet, n, tmp, env)
        startup = {"rmmctl": measured, "phases": phase_text, "wall_s": harness.startup_costs(env),
                   "top_imports_us": harness.top_imports(env), "import_groups_us": harness.import_groups(env)}
    return samples, startup


def main() -> int:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description="rmmctl run vs a bare paramiko pool")
    parser.add_argument("--hosts", default="20,100", help="comma-separated host counts (default 20,100)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rev", help="measure rmmctl at this git revision (git archive), not the working tree")
    parser.add_argument("--ablate", default="", help="also run rmmctl with these benchmarks/ablate.py patches, "
                        "e.g. keys,sshconfig,knownhosts")
    parser.add_argument("--alt-python", default="", help="also run rmmctl with this interpreter (e.g. "
                        "benchmarks/.venv/typer028/bin/python from `setup_venv.sh typer028`)")
    parser.add_argument("--keep", action="store_true", help="keep the fleet's temp dir (logs) afterwards")
    args = parser.parse_args()
    counts = [int(x) for x in args.hosts.split(",")]
    done = harness.run_and_print(lambda: bench(counts, args.repeat, args.keep, args.rev, args.ablate,
                                               args.alt_python))
    if isinstance(done, int):
        return done
    samples, summary, startup = done
    print("\nstart-up (median wall s):")
    for label, secs in startup["wall_s"].items():  # type: ignore[union-attr]
        print(f"  {label}: {secs:.3f}")
    for n, text in startup["phases"].items():  # type: ignore[union-attr]
        print(f"\nrmmctl phases at N={n} (one extra run under benchmarks/phases.py):\n{text}")
    print("\nslowest imports of rmmctl.cli (cumulative ms):")
    for us, name in startup["top_imports_us"]:  # type: ignore[union-attr]
        print(f"  {us / 1000:7.1f}  {name.strip()}")
    print("import self-time of rmmctl.cli by top-level package (ms):")
    groups = startup["import_groups_us"]  # type: ignore[index]
    print("  " + ", ".join(f"{name} {us / 1000:.1f}" for us, name in groups[:14]))  # type: ignore[index]
    path = harness.save_results("run", {"machine": harness.machine(), "argv": sys.argv, "samples": samples,
                                         "summary": {f"{n}/{t}": m for (n, t), m in summary.items()},
                                         "startup": startup})
    print(f"\nraw results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
