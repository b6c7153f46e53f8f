"""Shared benchmark machinery: a fleet that always stops, measured child processes, result tables.

A measurement runs one child process and takes, from os.wait4: wall time, the child's user+sys CPU
(its own and its reaped descendants') and its peak RSS. It also takes the CPU the fleet's sshd
processes (listeners and their reaped sessions/shells) spent meanwhile: on a 2-core box the server
side competes with the client, so a client that makes the servers work harder pays for it in wall time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO / "tests"))  # tests/fleet.py: the real sshd fleet

from fleet import FixtureSpec, Fleet, FleetError

__all__ = [
    "FixtureSpec",
    "Fleet",
    "Sample",
    "hermetic_env",
    "host_spec",
    "machine",
    "measure",
    "rmmctl_argv",
    "running_fleet",
    "save_results",
    "startup_costs",
    "summarize",
    "table",
    "use_revision",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    """One measured child run."""

    tool: str
    n: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    server_cpu_s: float
    exit_code: int
    load1: float = 0.0  # 1-minute load average just before the run (other work on the box skews it)


class BenchError(RuntimeError):
    """A run did not do the work (a host missing or wrong): the benchmark fails loudly."""


@contextmanager
def running_fleet(n: int, fixtures: dict[str, FixtureSpec] | None = None, keep: bool = False) -> Iterator[Fleet]:
    """Start n fleet hosts in a temp dir; stop them by PID (and remove the dir) on exit, SIGTERM or Ctrl-C."""
    workdir = Path(tempfile.mkdtemp(prefix="rmmctl-bench-"))
    fleet = Fleet(workdir)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        try:
            fleet.start(n, fixtures)
        except FleetError as exc:  # seen once: one sshd of 100 SIGKILLed while starting; one retry
            print(f"fleet start failed ({exc}); retrying once", file=sys.stderr)
            fleet.stop()
            fleet.start(n, fixtures)
        yield fleet
    finally:
        fleet.stop()
        signal.signal(signal.SIGTERM, previous)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _fleet_cpu(pids: Sequence[int]) -> float:
    """CPU seconds of these processes plus their reaped children (utime+stime+cutime+cstime)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / CLK_TCK


def measure(tool: str, n: int, argv: Sequence[str], env: dict[str, str], fleet: Fleet,
            check: Callable[[bytes, bytes, int], None], after: Callable[[], float] | None = None) -> Sample:
    """Run argv once; `check(stdout, stderr, exit_code)` raises BenchError unless every host answered.

    `after()` runs once the child has exited, before the server CPU is read (e.g. to close ssh
    masters the child left behind); the CPU seconds it returns count as the tool's client CPU.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load1 = os.getloadavg()[0]
        server0 = _fleet_cpu(fleet.sshd_pids())
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        extra_cpu = after() if after is not None else 0.0
        time.sleep(0.05)  # let the last sshd sessions exit and be reaped before reading their CPU
        server = _fleet_cpu(fleet.sshd_pids()) - server0
        out.seek(0)
        err.seek(0)
        check(out.read(), err.read(), code)
    return Sample(tool, n, wall, ru.ru_utime + ru.ru_stime + extra_cpu, ru.ru_maxrss / 1024, server, code, load1)


Checker = Callable[[bytes, bytes, int], None]


def check_rmmctl(names: Sequence[str], host_ok: Callable[[dict[str, Any]], bool],
                 codes: Sequence[int] = (0,)) -> Checker:
    """A checker for `rmmctl ... -o json`: an allowed exit code and host_ok(host) for exactly these hosts."""

    def check(out: bytes, err: bytes, code: int) -> None:
        if code not in codes:
            raise BenchError(f"rmmctl exited {code}: {err.decode(errors='replace')[-800:]}")
        got = {h["name"]: h for h in json.loads(out)["hosts"]}
        for name in names:
            h = got.get(name)
            if h is None or not host_ok(h):
                raise BenchError(f"rmmctl: host {name} did not answer correctly: {json.dumps(h)[:800]}")
        if len(got) != len(names):
            raise BenchError(f"rmmctl answered for {len(got)} hosts, expected {len(names)}")

    return check


def check_bare(names: Sequence[str], stdout_ok: Callable[[str, str], bool]) -> Checker:
    """A checker for bare_pool.py: every host, in order, exit 0, stdout_ok(name, stdout)."""

    def check(out: bytes, err: bytes, code: int) -> None:
        if code != 0 and not out:
            raise BenchError(f"bare pool exited {code}: {err.decode(errors='replace')[-800:]}")
        results = json.loads(out)
        if [r["name"] for r in results] != list(names):
            raise BenchError(f"bare pool answered for {len(results)} hosts, expected {len(names)}")
        for r in results:
            if r["error"] or r["exit_code"] != 0 or not stdout_ok(r["name"], r["stdout"]):
                raise BenchError(f"bare pool: host {r['name']} did not answer correctly: {json.dumps(r)[:800]}")

    return check


def capture(check: Checker, into: dict[str, bytes], key: str) -> Checker:
    """Wrap a checker so the run's stderr is kept under `key`."""

    def inner(out: bytes, err: bytes, code: int) -> None:
        check(out, err, code)
        into[key] = err

    return inner


def phase_run(fleet: Fleet, n: int, env: dict[str, str], rmmctl: tuple[list[str], Checker],
              bare: tuple[list[str], Checker]) -> str:
    """One extra run of each tool, rmmctl under benchmarks/phases.py: where the wall and CPU time go."""
    import phases

    (rm_argv, rm_check), (bare_argv, bare_check) = rmmctl, bare
    argv = [sys.executable, str(BENCH_DIR / "phases.py"), *rm_argv[2:]]
    err: dict[str, bytes] = {}
    rm = measure("rmmctl (phases)", n, argv, env, fleet, capture(rm_check, err, "rm"))
    bare_s = measure("bare (stages)", n, bare_argv, env, fleet, capture(bare_check, err, "bare"))
    startup = startup_costs(env, repeat=3, only="python -c pass")["python -c pass"]
    st = stages(err["bare"])
    return (phases.breakdown(err["rm"].decode(errors="replace"), rm.wall_s, startup) +
            f"\n  bare pool, same N: imports {st.get('imported', 0):.3f} s (cpu {st.get('import_cpu', 0):.3f}), "
            f"pool {st.get('pool', 0):.3f} s (cpu {st.get('pool_cpu', 0):.3f}), "
            f"interpreter exit ~{bare_s.wall_s - startup - st.get('end', 0):.3f} s, "
            f"total wall {bare_s.wall_s:.3f} s, CPU {bare_s.cpu_s:.3f} s")


def rmmctl_argv() -> list[str]:
    """The installed rmmctl console script run by this interpreter (not a pyenv shim, whose bash costs ~50 ms)."""
    import sysconfig

    script = Path(sysconfig.get_path("scripts")) / "rmmctl"
    return [sys.executable, str(script)] if script.exists() else [sys.executable, "-m", "rmmctl"]


def describe_python(python: str) -> str:
    """`typer 0.28.0` etc.: what differs in an alternative interpreter (its typer and pydantic)."""
    code = ("import importlib.metadata as m\nfor d in ('typer', 'pydantic'):\n"
            "    try: print(d, m.version(d))\n    except m.PackageNotFoundError: print('no', d)")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    return ", ".join(line for line in out if line and not line.startswith("pydantic"))


def hermetic_env(home: Path) -> dict[str, str]:
    """An environment with an empty HOME and a private history database: no real ~/.ssh, no real state."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RMMCTL_", "SSH_AUTH", "XDG_"))}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"), RMMCTL_DB=str(home / "rmmctl.db"),
               NO_COLOR="1", PYTHONDONTWRITEBYTECODE="")
    return env


def use_revision(env: dict[str, str], rev: str | None, tmp: Path) -> str:
    """Point env's PYTHONPATH at a frozen copy of src/ and return what is measured.

    rev None: a snapshot of the working tree taken now (others may edit src/ while we run);
    otherwise `git archive REV src`. Either copy goes first on PYTHONPATH, before the editable install.
    """
    head = _git("rev-parse", "--short", "HEAD")
    if rev is None:
        dirty = _git("status", "--porcelain", "src").splitlines()
        shutil.copytree(REPO / "src", tmp / "src-worktree" / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        env["PYTHONPATH"] = str(tmp / "src-worktree" / "src")
        return f"working tree at {head}" + (f" ({len(dirty)} files in src/ modified)" if dirty else "")
    commit = _git("rev-parse", "--short", rev)
    target = tmp / f"src-{commit}"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    env["PYTHONPATH"] = str(target / "src")
    return f"commit {commit}"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def host_spec(fleet: Fleet, n: int, path: Path) -> Path:
    """The bare pool's spec file for the first n fleet hosts."""
    hosts = [{"name": h.name, "address": h.address, "port": h.port} for h in fleet.hosts[:n]]
    spec = {"user": "root", "key": str(fleet.client_key), "known_hosts": str(fleet.known_hosts), "hosts": hosts}
    path.write_text(json.dumps(spec))
    return path


def run_and_print(call: Callable[[], tuple[list[Sample], dict[str, Any]]]
                  ) -> tuple[list[Sample], dict[tuple[int, str], dict[str, float]], dict[str, Any]] | int:
    """Run a benchmark and print its table; a failed check or Ctrl-C becomes an exit code (1, 130)."""
    try:
        samples, notes = call()
    except BenchError as exc:
        print(f"benchmark FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; fleet stopped", file=sys.stderr)
        return 130
    summary = summarize(samples)
    print(f"rmmctl measured: {notes['rmmctl']}")
    print(table(summary, baseline="bare paramiko pool"))
    return samples, summary, notes


def summarize(samples: Sequence[Sample]) -> dict[tuple[int, str], dict[str, float]]:
    """Median of each measure per (n, tool)."""
    groups: dict[tuple[int, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.n, s.tool), []).append(s)
    return {
        key: {m: statistics.median(getattr(s, m) for s in group) for m in ("wall_s", "cpu_s", "rss_mb", "server_cpu_s")}
        | {"runs": len(group)}
        for key, group in groups.items()
    }


def table(summary: dict[tuple[int, str], dict[str, float]], baseline: str) -> str:
    """A markdown table; ratio = wall time / the baseline tool's wall time at the same N."""
    lines = ["| N | tool | wall s (median) | client CPU s | peak RSS MB | sshd CPU s | runs | ratio |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for (n, tool), m in sorted(summary.items(), key=lambda kv: (kv[0][0], kv[0][1] != baseline, kv[0][1])):
        base = summary.get((n, baseline))
        ratio = f"{m['wall_s'] / base['wall_s']:.2f}x" if base else "-"
        lines.append(f"| {n} | {tool} | {m['wall_s']:.3f} | {m['cpu_s']:.2f} | {m['rss_mb']:.0f} | "
                     f"{m['server_cpu_s']:.2f} | {m['runs']:.0f} | {ratio} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import paramiko

    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), "?")
    ssh = subprocess.run(["/usr/sbin/sshd", "-V"], check=False, capture_output=True, text=True).stderr.strip()
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "paramiko": paramiko.__version__, "kernel": platform.release(),
            "sshd": ssh.splitlines()[0] if ssh else "?"}


def startup_costs(env: dict[str, str], repeat: int = 5, only: str | None = None) -> dict[str, float]:
    """Median wall seconds of `python -c pass`, `import paramiko`, `rmmctl --version` and importing the CLI."""
    probes = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import paramiko'": [sys.executable, "-c", "import paramiko"],
        "rmmctl --version": [*rmmctl_argv(), "--version"],
        "python -c 'import rmmctl.cli'": [sys.executable, "-c", "import rmmctl.cli"],
    }
    costs = {}
    for label, argv in probes.items():
        if only is not None and label != only:
            continue
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t0)
        costs[label] = statistics.median(times)
    return costs


def top_imports(env: dict[str, str], module: str = "rmmctl.cli", count: int = 12) -> list[tuple[int, str]]:
    """The slowest imports (cumulative microseconds, module) from `python -X importtime -c 'import MODULE'`."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], env=env,
                         capture_output=True, text=True, check=True)
    rows = []
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    top = sorted(rows, reverse=True)[:count]
    return [(us, name) for us, name in top]


def import_groups(env: dict[str, str], module: str = "rmmctl.cli") -> list[tuple[int, str]]:
    """Self import time (microseconds) per top-level package for `import MODULE`, largest first."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], env=env,
                         capture_output=True, text=True, check=True)
    groups: dict[str, int] = {}
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            self_us, _, name = line[len("import time:"):].split("|")
            top = name.strip().split(".")[0]
            groups[top] = groups.get(top, 0) + int(self_us)
    return sorted(((us, name) for name, us in groups.items()), reverse=True)


def stages(stderr: bytes) -> dict[str, float]:
    """The bare pool's `@@stages k=v ...` line as a dict."""
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith("@@stages "):
            return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    return {}


def save_results(name: str, payload: dict[str, Any]) -> Path:
    """Write the raw samples and summary to benchmarks/results/NAME-TIMESTAMP.json (git-ignored)."""
    out = BENCH_DIR / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)))
    return path
