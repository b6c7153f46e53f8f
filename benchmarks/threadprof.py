"""Run a Python script under cProfile in EVERY thread (cProfile alone sees only the main thread).

    python benchmarks/threadprof.py OUT.pstats SCRIPT [ARGS...]
    python -c "import pstats; pstats.Stats('OUT.pstats').sort_stats('tottime').print_stats(30)"

Each thread (workers, paramiko's reader threads) gets its own profiler; all are merged at exit.
cProfile slows pure-Python code ~2x, so read shares and call counts, not absolute times.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import runpy
import sys
import threading

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_original_run = threading.Thread.run
_dumped: list[str] = []


def _profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile()
    with _lock:
        _profiles.append(profile)
    profile.enable()
    try:
        _original_run(self)
    finally:
        profile.disable()


def _dump(path: str) -> None:
    if _dumped:
        return
    _dumped.append(path)
    with _lock:
        profiles = list(_profiles)
    for p in profiles:
        p.disable()  # daemon threads still running at exit: stop where they are
    stats = pstats.Stats(profiles[0])
    for p in profiles[1:]:
        try:
            stats.add(p)
        except TypeError:  # a profile that never collected anything
            pass
    stats.dump_stats(path)


def main() -> None:
    """Profile the main thread and every thread started afterwards; write merged stats at exit."""
    out, script, *args = sys.argv[1:]
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    main_profile = cProfile.Profile()
    _profiles.append(main_profile)
    atexit.register(_dump, out)
    real_exit = os._exit

    def exit_now(code: int) -> None:  # rmmctl.cli.main ends with os._exit, which skips atexit
        _dump(out)
        real_exit(code)

    os._exit = exit_now
    sys.argv = [script, *args]
    main_profile.enable()
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
