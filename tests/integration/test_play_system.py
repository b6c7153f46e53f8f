"""`wait_for`, `backup_verify`, `fstrim` and `av_update` on the real sshd fleet (the hosts share this
filesystem, so their files live in tmp_path): check mode changes nothing (hashes, mtimes, allocated
blocks), real runs report what they did and settle, templated values stay data.

Stand-ins, and why: freshclam needs ClamAV's mirrors on the internet and tests may talk only to
loopback, so `av_update` runs a real script on the host through its documented `freshclam_path`
argument; it writes a real ClamAV .cvd header into the signature folder, as freshclam does. `fstrim`
runs for real, on an ext4 image mounted through a loop device inside one fleet host's own mount
namespace (the machine's filesystems are never trimmed).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from fleet import Fleet
from test_play import doc, play, setup


def snapshot(top: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            p = Path(folder, name)
            out[str(p)] = ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def age(path: Path, when: str) -> Path:
    subprocess.run(["touch", "-d", when, "--", str(path)], check=True)
    return path


# ---------------------------------------------------------------- wait_for

def test_wait_for_ports_and_files_on_the_host(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "w"
    later, marks = work / "later.flag", work / "marks"
    marks.mkdir(parents=True)
    (work / "app.log").write_text("starting\nready on port 8080\n")
    one = fleet.host(1)
    closed, port = fleet.closed_port
    text = f"""\
hosts: all
tasks:
  - name: sshd banner, seen from the host
    wait_for: {{host: "{one.address}", port: {one.port}, search_regex: "OpenSSH_[0-9.]+"}}
    register: banner
  - wait_for: {{host: "{closed}", port: {port}, state: stopped, timeout: 5}}
  - wait_for: {{path: "{work}/app.log", search_regex: "ready on port [0-9]+"}}
  - name: the file appears 1.5 s from now (check mode skips this, so the file never comes)
    shell: "(sleep 1.5; echo up > {later}) </dev/null >/dev/null 2>&1 &"
  - wait_for: {{path: "{later}", timeout: 20}}
    register: waited
  - wait_for: {{path: "{work}/{{{{ evil }}}}", state: absent, timeout: 2}}
  - wait_for: {{path: "{work}/never", timeout: 1}}
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    evil = f"$(touch {marks}/a)`touch {marks}/b`"
    before = snapshot(work)
    dry = play(inv, book, "--check", "-e", f"evil={evil}", "-o", "json")  # read-only: check mode looks once
    assert dry.exit_code == 0, dry.output
    dtasks = doc(dry)["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in dtasks] == ["ok", "ok", "ok", "skipped", "skipped", "ok", "skipped"]
    assert dtasks[4]["message"] == f"{later} is not started yet: a real run waits up to 20 s (check mode looks once)"
    assert all(t["duration_s"] < 10 for t in dtasks)  # no waiting (the real run would wait 20 s)
    assert snapshot(work) == before

    run = play(inv, book, "--yes", "-e", f"evil={evil}", "-o", "json")
    assert run.exit_code == 5, run.output
    tasks = doc(run)["fleet-01"]["data"]["tasks"]
    assert [t["status"] for t in tasks] == ["ok", "ok", "ok", "changed", "ok", "ok", "failed"]
    assert tasks[0]["data"]["match"].startswith("OpenSSH_") and tasks[0]["changed"] is False
    assert tasks[2]["data"]["match"] == "ready on port 8080"
    assert tasks[4]["data"]["elapsed"] >= 1 and later.read_text() == "up\n"  # it really waited for the file
    assert tasks[6]["message"] == f"Timeout when waiting for file {work}/never"
    assert not list(marks.iterdir())  # the path was a word


# ---------------------------------------------------------------- backup_verify

def _backups(root: Path) -> None:
    good = root / "good"
    good.mkdir(parents=True)
    src = root / "payload.txt"
    src.write_text("rows\n" * 200)
    with tarfile.open(good / "db-old.tar.gz", "w:gz") as tar:
        tar.add(src, "payload.txt")
    age(good / "db-old.tar.gz", "3 days ago")
    with tarfile.open(good / "db-new.tar.gz", "w:gz") as tar:
        tar.add(src, "payload.txt")
    digest = hashlib.sha256((good / "db-new.tar.gz").read_bytes()).hexdigest()
    (good / "db-new.tar.gz.sha256").write_text(f"{digest}  db-new.tar.gz\n")  # newest file: a sidecar never counts
    age(good / "db-new.tar.gz", "2 hours ago")
    stale = root / "stale"
    stale.mkdir()
    age(stale / "dump.sql.gz", "5 days ago").write_bytes(gzip.compress(b"x" * 100))
    age(stale / "dump.sql.gz", "5 days ago")
    (root / "broken").mkdir()
    (root / "broken" / "b.tar.gz").write_bytes(gzip.compress(b"y" * 5000)[:60])  # cut short
    (root / "tiny").mkdir()
    (root / "tiny" / "t.zst").write_bytes(b"")
    (root / "empty").mkdir()


def test_backup_verify_reports_the_newest_file_and_what_is_wrong(fleet: Fleet, env: dict[str, str],
                                                                tmp_path: Path) -> None:
    root, marks = tmp_path / "w" / "bk", tmp_path / "w" / "marks"
    marks.mkdir(parents=True)
    _backups(root)
    digest = hashlib.sha256((root / "good" / "db-new.tar.gz").read_bytes()).hexdigest()
    text = f"""\
hosts: all
tasks:
  - backup_verify: {{path: "{root}/good", max_age_hours: 26, checksum: sidecar, test_archive: true}}
  - backup_verify: {{path: "{root}/good/db-*.tar.gz", checksum: "{digest}"}}
  - backup_verify: {{path: "{root}/stale", max_age_hours: 26, test_archive: true}}
    ignore_errors: true
  - backup_verify: {{path: "{root}/broken", test_archive: true}}
    ignore_errors: true
  - backup_verify: {{path: "{root}/tiny", min_size_bytes: 1}}
    ignore_errors: true
  - backup_verify: {{path: "{root}/empty"}}
    ignore_errors: true
  - backup_verify: {{path: "{root}/{{{{ evil }}}}*"}}
    ignore_errors: true
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    evil = f"$(touch {marks}/a)`touch {marks}/b`"
    before = snapshot(tmp_path / "w")
    results = []
    for args in (("--check",), ()):
        result = play(inv, book, *args, "-e", f"evil={evil}", "-o", "json")
        assert result.exit_code == 0, result.output
        results.append(doc(result)["fleet-01"]["data"]["tasks"])
        assert snapshot(tmp_path / "w") == before  # read-only, in check mode and out of it
    check, real = results
    assert [(t["status"], t["message"]) for t in check] == [(t["status"], t["message"]) for t in real]
    good = real[0]
    assert good["status"] == "ok" and good["data"]["newest"] == f"{root}/good/db-new.tar.gz"
    assert good["message"].endswith("; sha256 ok, archive ok") and 1.9 < good["data"]["age_hours"] < 2.2
    assert good["data"]["sha256"] == digest and good["data"]["readable"] is True and good["data"]["files"] == 2
    assert real[1]["status"] == "ok" and real[1]["data"]["newest"].endswith("db-new.tar.gz")
    assert real[2]["status"] == "failed" and real[2]["message"].endswith(": older than 26 h")
    assert real[2]["data"]["test_archive"] == {"tool": "gzip", "rc": 0}
    assert real[3]["status"] == "failed" and "tar test failed" in real[3]["message"]
    assert real[4]["message"].endswith(": smaller than 1 bytes")
    assert real[5]["message"] == f"backup {root}/empty holds no files"
    assert real[6]["message"] == f"backup {root}/{evil}* matches no file"
    assert not list(marks.iterdir())


# ---------------------------------------------------------------- fstrim

def _nsenter(pid: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", "-t", str(pid), "-m", *argv], capture_output=True, text=True)


def test_fstrim_plans_trims_and_settles_on_a_loop_filesystem(fleet: Fleet, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    if not (shutil.which("nsenter") and shutil.which("mkfs.ext4") and shutil.which("fstrim")):
        pytest.skip("needs nsenter, mkfs.ext4 and fstrim (util-linux, e2fsprogs)")
    pid = fleet.sshd_pids()[2]  # fleet-03's mount namespace: the mount is seen there only
    img, mnt, marks = tmp_path / "fs.img", tmp_path / "mnt", tmp_path / "marks"
    mnt.mkdir()
    marks.mkdir()
    subprocess.run(["truncate", "-s", "32M", str(img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
    mounted = _nsenter(pid, "mount", "-o", "loop", str(img), str(mnt))
    if mounted.returncode != 0:
        pytest.skip(f"no loop device here: {mounted.stderr.strip()}")
    try:
        inside = Path(f"/proc/{pid}/root") / str(mnt).lstrip("/")
        (inside / "fill").write_bytes(os.urandom(6 << 20))
        _nsenter(pid, "sync")
        (inside / "fill").unlink()
        _nsenter(pid, "sync")
        text = f"""\
hosts: all
become: true
tasks:
  - fstrim: {{mountpoints: ["{mnt}", /dev/shm]}}
  - fstrim: {{mountpoints: ["{{{{ evil }}}}"]}}
    ignore_errors: true
"""
        inv, book = setup(fleet, tmp_path, text, hosts=[3])
        evil = f"/tmp/$(touch {marks}/a)"
        blocks = img.stat().st_blocks
        dry = play(inv, book, "--check", "-e", f"evil={evil}", "-o", "json")
        assert dry.exit_code == 0, dry.output
        plan = doc(dry)["fleet-03"]["data"]["tasks"][0]
        assert plan["status"] == "changed" and plan["data"]["would_trim"] == [str(mnt)], plan
        assert plan["message"].startswith(f"would trim {mnt} (check mode); cannot: /dev/shm (tmpfs")
        assert img.stat().st_blocks == blocks  # nothing discarded
        every = setup(fleet, tmp_path, "hosts: all\nbecome: true\ntasks:\n  - fstrim: {}\n", hosts=[3])
        listed = play(*every, "--check", "-o", "json")
        assert str(mnt) in doc(listed)["fleet-03"]["data"]["tasks"][0]["data"]["would_trim"], listed.output
        assert img.stat().st_blocks == blocks

        inv, book = setup(fleet, tmp_path, text, hosts=[3])
        run = play(inv, book, "--yes", "-e", f"evil={evil}", "-o", "json")
        assert run.exit_code == 0, run.output
        tasks = doc(run)["fleet-03"]["data"]["tasks"]
        assert tasks[0]["status"] == "changed" and tasks[0]["data"]["bytes"] > 5 << 20, tasks[0]
        assert tasks[0]["data"]["unsupported"] == ["/dev/shm"]
        assert tasks[0]["message"].startswith(f"trimmed {mnt} ") and tasks[0]["message"].endswith(
            "; no discard: /dev/shm")
        assert img.stat().st_blocks < blocks  # the image really lost the freed blocks
        assert tasks[1]["status"] == "failed" and not list(marks.iterdir())  # a path, never run
        again = play(inv, book, "--yes", "-e", f"evil={evil}", "-o", "json")
        settled = doc(again)["fleet-03"]["data"]["tasks"][0]
        assert settled["status"] == "ok" and settled["data"]["bytes"] == 0, settled  # ext4 remembers
    finally:
        _nsenter(pid, "umount", str(mnt))


# ---------------------------------------------------------------- av_update

FAKE_FRESHCLAM = r"""#!/bin/sh
# Stand-in for freshclam (no internet here): writes daily.cvd version 27100 into --datadir, once.
d=
for a in "$@"; do case $a in --datadir=*) d=${a#--datadir=} ;; esac; done
[ -n "$d" ] || { echo "ERROR: no --datadir" >&2; exit 56; }
if head -c 60 "$d/daily.cvd" | grep -q ':27100:'; then
  echo "daily.cvd database is up-to-date (version: 27100, sigs: 2000, f-level: 90, builder: rmm)"; exit 0
fi
printf 'ClamAV-VDB:01 Dec 2026 06-00 +0000:27100:2000:90:X:X:rmm:1796000000' > "$d/daily.cvd.new"
head -c 512 /dev/zero >> "$d/daily.cvd.new"
mv "$d/daily.cvd.new" "$d/daily.cvd"
echo "daily.cvd updated (version: 27100, sigs: 2000, f-level: 90, builder: rmm)"
"""


def test_av_update_reports_the_signature_age_before_and_after(fleet: Fleet, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    db, marks = tmp_path / "clamav", tmp_path / "marks"
    db.mkdir()
    marks.mkdir()
    (db / "daily.cvd").write_bytes(b"ClamAV-VDB:26 Nov 2026 06-00 +0000:27000:1900:90:X:X:rmm:1795500000"
                                   + bytes(512))
    age(db / "daily.cvd", "5 days ago")
    (db / "main.cvd").write_bytes(b"ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:X:X:rmm:1631795581"
                                  + bytes(512))
    age(db / "main.cvd", "30 days ago")
    fake = tmp_path / "freshclam"
    fake.write_text(FAKE_FRESHCLAM)
    fake.chmod(0o755)
    text = f"""\
hosts: all
tasks:
  - av_update: {{freshclam_path: "{fake}", db_dir: "{db}"}}
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    before = snapshot(db)
    dry = play(inv, book, "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    plan = doc(dry)["fleet-01"]["data"]["tasks"][0]
    assert plan["status"] == "skipped" and plan["message"].startswith("skipped in check mode: ")
    assert plan["message"].endswith("signatures 5.0 days old (daily.cvd version 27000)"), plan
    assert snapshot(db) == before

    run = play(inv, book, "--yes", "-o", "json")
    assert run.exit_code == 0, run.output
    task = doc(run)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "changed", task
    assert task["message"] == ("signatures updated: signatures 5.0 days old (daily.cvd version 27000) -> "
                               "signatures 0.0 days old (daily.cvd version 27100)")
    assert task["data"]["age_days_before"] == 5.0 and task["data"]["age_days_after"] < 0.01
    again = play(inv, book, "--yes", "-o", "json")
    assert doc(again)["fleet-01"]["data"]["tasks"][0]["status"] == "ok", again.output

    evil = f"$(touch {marks}/a)`touch {marks}/b`"
    bad = setup(fleet, tmp_path, f"""\
hosts: all
tasks:
  - av_update: {{db_dir: "{db}/{{{{ evil }}}}"}}
""", hosts=[1])
    missing = play(*bad, "--yes", "-e", f"evil={evil}", "-o", "json")
    assert missing.exit_code == 5, missing.output
    task = doc(missing)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "failed" and task["message"] == "freshclam not installed"
    assert not list(marks.iterdir())


# ---------------------------------------------------------------- the shipped playbooks

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "rmmctl" / "data" / "playbooks"


def linux_group(inv: Path, host_vars: dict[str, dict] | None = None) -> Path:
    """The shipped playbooks target `hosts: linux`: put every host in that group (with its vars)."""
    import yaml

    data = yaml.safe_load(inv.read_text())
    data["groups"] = {"linux": {"os": "linux"}}
    for name, host in data["hosts"].items():
        host["groups"] = ["linux"]
        if host_vars and name in host_vars:
            host["vars"] = host_vars[name]
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    return inv


def test_shipped_backup_verify_reads_backup_paths_like_the_check(fleet: Fleet, env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    root = tmp_path / "w" / "bk"
    _backups(root)
    paths = [f"{root}/good", {"path": f"{root}/stale", "max_age_hours": 200}, {"path": f"{root}/empty"}]
    inv, _ = setup(fleet, tmp_path, "", hosts=[1, 2])
    linux_group(inv, {"fleet-01": {"backup_paths": paths, "backup_test_archive": True},
                      "fleet-02": {"backup_paths": paths[:2]}})
    before = snapshot(tmp_path / "w")
    result = play(inv, SHIPPED / "backup-verify.yaml", "--yes", "-o", "json")
    assert result.exit_code == 5, result.output
    hosts = doc(result)
    one = hosts["fleet-01"]["data"]["tasks"][0]["data"]["results"]
    assert [r["status"] for r in one] == ["ok", "ok", "failed"], one
    assert one[0]["msg"].endswith("archive ok") and one[2]["msg"] == f"backup {root}/empty holds no files"
    assert hosts["fleet-02"]["status"] == "ok"  # 200 h allowed for stale/: fine
    assert snapshot(tmp_path / "w") == before


def test_shipped_trim_and_av_update_in_check_mode(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = linux_group(setup(fleet, tmp_path, "", hosts=[1])[0])
    trim = play(inv, SHIPPED / "trim.yaml", "--check", "-o", "json")
    assert trim.exit_code == 0, trim.output
    task = doc(trim)["fleet-01"]["data"]["tasks"][0]
    assert task["module"] == "fstrim" and task["status"] in ("changed", "skipped") and task["data"]["check_mode"]
    av = play(inv, SHIPPED / "av-update.yaml", "--check", "-e", f"clamav_db_dir={tmp_path}/none", "-o", "json")
    task = doc(av)["fleet-01"]["data"]["tasks"][0]
    assert av.exit_code == 5 and task["message"] == "freshclam not installed", av.output
