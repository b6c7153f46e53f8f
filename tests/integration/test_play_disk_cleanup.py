"""The shipped disk-cleanup.yaml on the real sshd fleet: in check mode with its default vars (the real
/tmp, /var/tmp and package cache: planned, nothing removed), and for real against folders in tmp_path
set with -e (never the machine's /tmp, /var/log or cache): old temp files, old rotated logs and cached
package files go; live logs, new files and symlinked targets stay; a second run is ok.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import rmmctl
from fleet import Fleet
from test_play import doc, play
from test_play_cleanup import snapshot
from test_play_packages import setup

BOOK = Path(rmmctl.__file__).parent / "data" / "playbooks" / "disk-cleanup.yaml"
OLD, NEW = "30 days ago", "1 day ago"


def make(path: Path, age: str, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    subprocess.run(["touch", "-h", "-d", age, "--", str(path)], check=True)
    return path


CACHE = Path("/var/cache/apt/archives")


def listing(top: Path) -> list[tuple[str, int, int]]:
    """Every file below `top` with its size and mtime (the machine's cache holds gigabytes: no hashes)."""
    return sorted((str(Path(d, n)), (st := Path(d, n).lstat()).st_size, st.st_mtime_ns)
                  for d, _, names in os.walk(top) for n in names)


def test_disk_cleanup_check_mode_with_the_default_vars_removes_nothing(fleet: Fleet, env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    inv = setup(fleet, tmp_path, "", hosts=[1])[0]
    before = listing(CACHE)
    dry = play(inv, BOOK, "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    temp, logs, pkgs = doc(dry)["fleet-01"]["data"]["tasks"]
    assert temp["status"] in ("ok", "changed") and temp["data"]["check_mode"] is True, temp
    assert logs["status"] == "skipped" and "check mode" in logs["message"]
    assert pkgs["status"] in ("ok", "changed") and pkgs["data"]["check_mode"] is True, pkgs
    for path in temp["data"]["paths"] + pkgs["data"]["paths"]:
        assert os.path.lexists(path), path  # planned, still there
    assert listing(CACHE) == before


def test_disk_cleanup_removes_old_temp_rotated_logs_and_cached_packages(fleet: Fleet, env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    tmp, log, cache, outside = (tmp_path / d for d in ("tmp", "log", "cache", "outside"))
    gone = [make(tmp / "old.txt", OLD), make(tmp / "sess" / "s1", OLD),
            make(log / "syslog.1", OLD), make(log / "syslog.2.gz", OLD), make(log / "nginx" / "access.log.3.gz", OLD),
            make(log / "dpkg.log.old", OLD), make(log / "app.1.log", OLD),
            make(cache / "openssl_3.0.13_amd64.deb", NEW), make(cache / "dnf" / "packages" / "kernel.rpm", NEW)]
    kept = [make(tmp / "new.txt", NEW), make(log / "syslog", OLD), make(log / "app.log", OLD),
            make(log / "auth.log.1", NEW), make(cache / "lock", OLD), make(outside / "target.gz", OLD)]
    (log / "link.gz").symlink_to(outside / "target.gz")
    subprocess.run(["touch", "-h", "-d", OLD, str(log / "link.gz")], check=True)
    inv = setup(fleet, tmp_path, "", hosts=[1])[0]
    extra = ["-e", f"cleanup_paths={tmp}", "-e", f"cleanup_log_dir={log}", "-e", f"cleanup_cache_paths={cache}",
             "-e", "cleanup_older_than_days=7"]

    before = snapshot(tmp, log, cache, outside)
    dry = play(inv, BOOK, *extra, "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    assert snapshot(tmp, log, cache, outside) == before
    run = play(inv, BOOK, *extra, "--yes", "-o", "json")
    assert run.exit_code == 0, run.output
    temp, logs, pkgs = doc(run)["fleet-01"]["data"]["tasks"]
    assert temp["status"] == "changed" and temp["data"]["files"] == 2, temp
    assert logs["status"] == "changed" and sorted(logs["data"]["stdout"].split()) == sorted(
        str(p) for p in gone[2:7]), logs
    assert pkgs["status"] == "changed" and pkgs["data"]["files"] == 2, pkgs
    assert not any(p.exists() for p in gone) and all(p.exists() for p in kept)
    assert (log / "link.gz").is_symlink()

    again = play(inv, BOOK, *extra, "--yes", "-o", "json")
    assert [t["status"] for t in doc(again)["fleet-01"]["data"]["tasks"]] == ["ok", "ok", "ok"]
    kept_cache = play(inv, BOOK, *extra, "-e", "cleanup_package_cache=false", "--check", "-o", "json")
    assert doc(kept_cache)["fleet-01"]["data"]["tasks"][2]["status"] == "skipped"
