"""The `cleanup` module on the real sshd fleet (the hosts share this filesystem, so everything lives in
tmp_path): check mode lists exactly the old files and changes nothing (content and mtimes), a run removes
only those, symlinks are not followed, hostile file names stay data, protected roots are refused, a
second run is ok."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from fleet import Fleet
from test_play import doc, play, setup

OLD, NEW = "30 days ago", "1 day ago"


def make(path: Path, size: int, age: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    subprocess.run(["touch", "-h", "-d", age, "--", str(path)], check=True)
    return path


def snapshot(*tops: Path) -> dict[str, tuple[str, int]]:
    """Every entry below `top` (symlinks not followed): content hash (or link target) and mtime."""
    out = {}
    for folder, dirs, files in (walked for top in tops for walked in os.walk(top)):
        for name in dirs + files:
            p = Path(folder, name)
            st = p.lstat()
            what = os.readlink(p) if p.is_symlink() else ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            out[str(p)] = (what, st.st_mtime_ns)
    return out


def test_cleanup_plans_removes_only_old_files_and_settles(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    root, outside, marks = tmp_path / "root", tmp_path / "outside", tmp_path / "marks"
    marks.mkdir()
    target = make(outside / "target.log", 7, OLD)
    make(outside / "deep" / "old.log", 9, OLD)
    old = [make(root / "a.log", 100, OLD), make(root / "sub" / "b.log", 50, OLD),
           make(root / "with space 'q\".log", 3, OLD),
           make(root / "x\n$(touch pwned)`touch pwned2`;touch pwned3.log", 4, OLD),  # relative: would mark $HOME
           make(root / f"y\n$(touch {marks}" / "m).log", 5, OLD)]  # the path spells $(touch MARKS/m).log
    make(root / "new.log", 1000, NEW)
    make(root / "old.txt", 1000, OLD)  # not a *.log
    make(root / "tiny.log", 1, OLD)  # below min_size
    (root / "flink.log").symlink_to(target)
    (root / "dlink").symlink_to(outside / "deep")
    subprocess.run(["touch", "-h", "-d", OLD, str(root / "flink.log"), str(root / "dlink")], check=True)
    text = f"""\
hosts: all
tasks:
  - name: clean
    cleanup: {{paths: ["{root}"], older_than_days: 7, patterns: ["*.log", "*.gz"], min_size: 2}}
    register: freed
  - command: echo "freed {{{{ freed.data.bytes }}}}"
    when: freed.changed
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    before = snapshot(root, outside, marks)
    want = sorted(str(p) for p in old)

    dry = play(inv, book, "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    task = doc(dry)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "changed" and task["message"] == "would remove 5 file(s), 162 bytes (check mode)"
    assert sorted(task["data"]["paths"]) == want and task["data"]["bytes"] == 162 and not task["data"]["truncated"]
    assert snapshot(root, outside, marks) == before  # content, links and mtimes untouched
    listed = play(inv, book, "--check", "--diff", "-o", "json")
    diff = doc(listed)["fleet-01"]["data"]["tasks"][0]["diff"]
    assert all(f"-{p}\n" in diff for p in want) and len(diff) == sum(len(p) + 2 for p in want)  # the exact list
    assert snapshot(root, outside, marks) == before

    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    tasks = doc(result)["fleet-01"]["data"]["tasks"]
    assert tasks[0]["status"] == "changed" and tasks[0]["data"]["files"] == 5, tasks[0]
    assert sorted(tasks[0]["data"]["paths"]) == want
    assert tasks[1]["data"]["stdout"] == "freed 162\n"
    after = snapshot(root, outside, marks)
    assert set(before) - set(after) == set(want)
    assert target.read_bytes() == b"x" * 7 and (outside / "deep" / "old.log").exists()  # links not followed
    assert (root / "flink.log").is_symlink() and (root / "new.log").exists() and (root / "old.txt").exists()
    assert not list(marks.iterdir()) and not list(fleet.home.glob("pwned*"))  # names were data

    again = play(inv, book, "--yes", "-o", "json")
    assert again.exit_code == 0, again.output
    settled = doc(again)["fleet-01"]["data"]["tasks"]
    assert settled[0]["status"] == "ok" and settled[0]["data"]["files"] == 0
    assert settled[1]["status"] == "skipped"


def test_cleanup_refuses_protected_roots(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    for literal in ("/", "/etc", "/usr/local/lib", "/home", "/var", "/tmp/../etc", "relative/tmp"):
        inv, book = setup(fleet, tmp_path, f"hosts: all\ntasks:\n  - cleanup: {{paths: ['{literal}'], older_than_days: 1}}\n",
                          hosts=[1])
        bad = play(inv, book, "--check")
        assert bad.exit_code == 3, (literal, bad.output)
        assert "tasks[0].cleanup.paths[0]: got" in bad.output
    (tmp_path / "lnk").symlink_to("/etc")
    text = "hosts: all\ntasks:\n  - cleanup: {paths: ['{{ root }}'], older_than_days: 100000}\n"
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    templated = play(inv, book, "--yes", "-e", "root=/boot", "-o", "json")
    assert templated.exit_code == 5
    assert "/boot is protected" in doc(templated)["fleet-01"]["data"]["tasks"][0]["message"]
    resolved = play(inv, book, "--yes", "-e", f"root={tmp_path}/lnk/ssh", "-o", "json")  # via a symlink
    assert resolved.exit_code == 5, resolved.output
    assert "(resolved on the host): /etc/ssh is under protected /etc" in doc(resolved)["fleet-01"]["data"]["tasks"][0]["message"]
    link_root = play(inv, book, "--yes", "-e", f"root={tmp_path}/lnk/", "-o", "json")  # a symlink root: not entered
    assert link_root.exit_code == 0, link_root.output
    task = doc(link_root)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "ok" and task["data"]["missing"] == [f"{tmp_path}/lnk"]


def test_cleanup_skips_an_unreadable_folder_with_a_note(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    make(root / "old.tmp", 10, OLD)
    locked = make(root / "locked" / "old.tmp", 10, OLD).parent
    locked.chmod(0)
    try:
        text = f"hosts: all\ntasks:\n  - cleanup: {{paths: ['{root}'], older_than_days: 1}}\n"
        inv, book = setup(fleet, tmp_path, text, hosts=[1])
        result = play(inv, book, "--yes", "-o", "json")
        task = doc(result)["fleet-01"]["data"]["tasks"][0]
        if os.geteuid() == 0:  # root reads it anyway: both go
            assert task["data"]["files"] == 2, task
        else:
            assert result.exit_code == 0, result.output
            assert task["status"] == "changed" and task["data"]["files"] == 1 and task["data"]["warnings"], task
            assert "find:" in task["message"]
    finally:
        locked.chmod(0o755)


def test_cleanup_data_shows_the_first_20_paths(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(25):
        make(root / f"f{i:02d}", 2, OLD)
    inv, book = setup(fleet, tmp_path, f"hosts: all\ntasks:\n  - cleanup: {{path: '{root}', age_days: 3}}\n", hosts=[1])
    data = doc(play(inv, book, "--check", "-o", "json"))["fleet-01"]["data"]["tasks"][0]["data"]
    assert (data["files"], data["bytes"], len(data["paths"]), data["truncated"]) == (25, 50, 20, True)
    assert len(list(root.iterdir())) == 25
