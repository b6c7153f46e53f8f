"""Run the rmmctl CLI in-process with timers around its phases; print where the wall and CPU time went.

    python benchmarks/phases.py run all -i INV -o json -- uname -a     (the rmmctl arguments, as given)

Used by bench_*.py --phases (the fleet and inventory come from there). Wraps real functions (no
behaviour change): interpreter start, imports, inventory load, store open/writes/close, each host's
SSH connect and commands (summed over worker threads, and the slowest host), the executor, rendering
and interpreter exit. The report is one JSON line on stderr prefixed `@@phases `.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
C0 = time.process_time()

import atexit
import functools
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

MAIN: dict[str, list[float]] = {}  # phase -> [wall, main-thread CPU, whole-process CPU] on the main thread
WORKERS: dict[str, list[float]] = {}  # phase -> [summed wall, max wall, calls, summed thread CPU] on workers
_lock = threading.Lock()


def _add_main(phase: str, wall: float, cpu: float, process_cpu: float) -> None:
    acc = MAIN.setdefault(phase, [0.0, 0.0, 0.0])
    acc[0] += wall
    acc[1] += cpu
    acc[2] += process_cpu


def timed(owner: Any, name: str, phase: str) -> None:
    """Replace owner.name with a wrapper that adds its time to `phase` (main thread or workers)."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t, c, p = time.perf_counter(), time.thread_time(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            wall = time.perf_counter() - t
            if threading.current_thread() is threading.main_thread():
                _add_main(phase, wall, time.thread_time() - c, time.process_time() - p)
            else:
                with _lock:
                    acc = WORKERS.setdefault(phase, [0.0, 0.0, 0, 0.0])
                    acc[0] += wall
                    acc[1] = max(acc[1], wall)
                    acc[2] += 1
                    acc[3] += time.thread_time() - c

    setattr(owner, name, wrapper)
    for module in list(sys.modules.values()):  # names bound by `from X import name` elsewhere in rmmctl
        if getattr(module, "__name__", "").startswith("rmmctl") and getattr(module, name, None) is original:
            setattr(module, name, wrapper)


def instrument() -> None:
    """Wrap the phases we care about (import what is needed; that time counts as import)."""
    import typer.main

    from rmmctl import api, executor, store
    from rmmctl.cli import context, output
    from rmmctl.transports import ssh

    timed(typer.main, "get_command", "typer: build the click command tree")
    timed(context, "prepare", "prepare (logging, inventory, store open)")
    timed(context, "load_inventory", "inventory load")
    timed(store.Store, "open", "store open")
    for method in ("begin_run", "add_host_result", "finish_run", "close"):
        timed(store.Store, method, f"store {method}")
    timed(executor.Executor, "run", "executor.run (all hosts)")
    timed(ssh.SSHTransport, "connect", "ssh connect")
    timed(ssh.SSHTransport, "run", "ssh run (incl. connect)")
    timed(ssh.SSHTransport, "close", "ssh close")
    import paramiko

    timed(paramiko.Transport, "run", "paramiko reader thread (kex, packets)")
    for name in ("show", "show_doc"):
        if hasattr(output, name):
            timed(output, name, "render (show)")
    for name in ("run_command", "ping", "status", "health"):
        if hasattr(api, name):
            timed(api, name, f"api.{name}")
    for method in ("auto_prune", "add_samples"):
        if hasattr(store.Store, method):
            timed(store.Store, method, f"store {method}")
    _instrument_health()


def _instrument_health() -> None:
    """The health commands' per-host steps (status, metrics, logs), where they exist."""
    try:
        from rmmctl import health
        from rmmctl.checks import health as checks
        from rmmctl.probes import linux
        from rmmctl.probes.linux import bundle
    except ImportError:
        return
    timed(health, "collect", "probes.collect (probe + parse)")
    timed(bundle, "build_script", "probe build_script")
    timed(linux, "parse_output", "probe parse_output")
    timed(checks, "evaluate", "checks evaluate")
    for name in ("status_job", "metrics_job", "logs_job"):
        if hasattr(health, name):
            timed(health, name, f"health.{name}")


def report(stage: dict[str, float]) -> None:
    """Print the phases as one JSON line on stderr."""
    doc = {"stage": stage, "main": MAIN, "workers": WORKERS, "cpu_total": time.process_time() - C0}
    os.write(2, ("@@phases " + json.dumps(doc) + "\n").encode())


def main() -> None:
    """Import and instrument rmmctl, run its CLI with our argv, report at exit."""
    stage: dict[str, float] = {}
    import rmmctl.cli

    instrument()
    stage["imported"] = time.perf_counter() - T0
    stage["import_cpu"] = time.process_time() - C0
    def final_report() -> None:
        if "atexit" not in stage:
            stage["atexit"] = time.perf_counter() - T0
            report(stage)

    atexit.register(final_report)
    real_exit = os._exit

    def exit_now(code: int) -> None:  # rmmctl.cli.main ends with os._exit (no atexit): report first
        stage.setdefault("main returned", time.perf_counter() - T0)
        final_report()
        real_exit(code)

    os._exit = exit_now
    sys.argv = ["rmmctl", *sys.argv[1:]]
    try:
        rmmctl.cli.main()
    finally:
        stage["main returned"] = time.perf_counter() - T0


if __name__ == "__main__":
    main()


def breakdown(stderr: str, wall_s: float, startup_s: float) -> str:
    """Human-readable phases from a run's stderr, its measured wall time and bare interpreter start-up."""
    line = next((ln for ln in stderr.splitlines() if ln.startswith("@@phases ")), None)
    if line is None:
        return "(no phase report: the run crashed?)"
    doc = json.loads(line.split(" ", 1)[1])
    st = doc["stage"]
    rows = [f"  {'interpreter start-up (python -c pass)':44s} {startup_s:6.3f} s",
            f"  {'imports (rmmctl.cli and what it pulls in)':44s} {st['imported']:6.3f} s  cpu {st['import_cpu']:.3f}"]
    rows += [f"  {'main thread: ' + k:44s} {v[0]:6.3f} s  cpu {v[1]:.3f} (all threads {v[2]:.3f})"
             for k, v in doc["main"].items()]
    rows += [f"  {'workers: ' + k:44s} {v[0]:6.3f} s summed, slowest {v[1]:.3f} s, {v[2]} calls, "
             f"thread CPU {v[3]:.3f} s"
             for k, v in doc["workers"].items()]
    exit_s = wall_s - startup_s - st.get("atexit", st.get("main returned", 0.0))
    rows += [f"  {'from main() start to atexit':44s} {st.get('atexit', 0) - st['imported']:6.3f} s",
             f"  {'interpreter exit (after atexit, estimated)':44s} {exit_s:6.3f} s",
             f"  {'total wall (measured outside)':44s} {wall_s:6.3f} s; process CPU at atexit {doc['cpu_total']:.3f} s"]
    return "\n".join(rows)
