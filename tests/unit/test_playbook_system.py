"""The pure parts of reboot, wait_for, backup_verify, fstrim and av_update: argument rules, the command
lines they build (values stay words), and the parsers of real fstrim output (captured on Debian 12,
util-linux 2.38.1)."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from localctx import local_context

from rmmctl.playbooks.modules import REGISTRY, ArgProblem, ModuleCall, lookup, normalize_args
from rmmctl.playbooks.posix_reboot import _timeout_msg, shutdown_line
from rmmctl.playbooks.posix_system import archive_test, judge_backup, parse_trim, parse_trim_plan, signature_age


def args(module: str, **given: Any) -> dict[str, Any]:
    spec = lookup("posix", module)
    assert spec is not None
    return normalize_args(spec, given, templated=True)


def test_the_default_reboot_command_is_shutdown_with_words() -> None:
    evil = "$(touch /tmp/x); reboot"
    line = shutdown_line(args("reboot", msg=evil, pre_reboot_delay=150))
    assert shlex.split(line) == ["shutdown", "-r", "+2", evil]  # minutes, rounded down (as Ansible); msg one word
    assert shutdown_line(args("reboot")) == "shutdown -r +0 'Reboot initiated by rmmctl'"
    custom = shutdown_line(args("reboot", reboot_command="systemctl reboot $(id)", msg="ignored"))
    assert shlex.split(custom) == ["systemctl", "reboot", "$(id)"]  # msg is not used with reboot_command


@pytest.mark.parametrize(("given", "problem"), [
    ({"reboot_timeout": 0}, "reboot_timeout"),
    ({"post_reboot_delay": -1}, "post_reboot_delay"),
    ({"test_command": "echo 'open"}, "test_command"),
    ({"boot_time_command": "  "}, "boot_time_command"),
])
def test_reboot_arguments_are_checked(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(ArgProblem) as exc:
        args("reboot", **given)
    assert exc.value.path == problem


@pytest.mark.parametrize(("given", "problem"), [
    ({"port": 22, "path": "/x"}, "port"),
    ({"port": 70000}, "port"),
    ({"port": 22, "host": "a;b"}, "host"),
    ({"path": "rel/x"}, "path"),
    ({"path": "/x", "sleep": 0}, "sleep"),
])
def test_wait_for_arguments_are_checked(given: dict[str, Any], problem: str) -> None:
    with pytest.raises(ArgProblem) as exc:
        args("wait_for", **given)
    assert exc.value.path == problem


def test_wait_for_times_out_with_ansibles_messages() -> None:
    assert _timeout_msg(args("wait_for", port=80), "127.0.0.1:80") == "Timeout when waiting for 127.0.0.1:80"
    assert _timeout_msg(args("wait_for", port=80, state="stopped"), "h:80") == "Timeout when waiting for h:80 to stop."
    assert _timeout_msg(args("wait_for", path="/f"), "/f") == "Timeout when waiting for file /f"
    assert _timeout_msg(args("wait_for", path="/f", search_regex="up"), "/f") == (
        "Timeout when waiting for search string up in /f")


FSTRIM_ALL = """\
/tmp/sysx/m: 25.2 MiB (26449920 bytes) trimmed on /dev/loop0
/: 1.2 GiB (1288490188 bytes) trimmed on /dev/vda
@@rc 0
"""
FSTRIM_GIVEN = """\
/tmp/sysx/m: 0 B (0 bytes) trimmed
@@rc 0
fstrim: /dev/shm: the discard operation is not supported
@@rc 1
fstrim: /srv: FITRIM ioctl failed: Operation not permitted
@@rc 1
"""


def test_fstrim_output_is_parsed_per_mount() -> None:
    trimmed, unsupported, errors = parse_trim(FSTRIM_ALL)
    assert trimmed == [{"mount": "/tmp/sysx/m", "bytes": 26449920, "device": "/dev/loop0"},
                       {"mount": "/", "bytes": 1288490188, "device": "/dev/vda"}]
    assert unsupported == [] and errors == []
    trimmed, unsupported, errors = parse_trim(FSTRIM_GIVEN)
    assert trimmed == [{"mount": "/tmp/sysx/m", "bytes": 0, "device": None}]
    assert unsupported == ["/dev/shm"] and errors == ["fstrim: /srv: FITRIM ioctl failed: Operation not permitted"]
    dry, _, _ = parse_trim("/: 0 B (dry run) trimmed on /dev/vda\n@@rc 0\n")
    assert dry == [{"mount": "/", "bytes": None, "device": "/dev/vda"}]


def test_fstrim_plans_from_findmnt_and_lsblk_discard_max() -> None:
    can, cannot = parse_trim_plan("mount /\t/dev/vda\text4\t1G\nmount /dev/shm\ttmpfs\ttmpfs\t\n"
                                  "mount /old\t/dev/sdb1\text4\t0B\nmount /gone\t\t\t\n")
    assert can == ["/"]
    assert cannot == ["/dev/shm (tmpfs on tmpfs: not a block device with discard)", "/old (ext4: no discard support)",
                      "/gone (not mounted)"]


def facts(**more: str) -> dict[str, str]:
    return {"now": "1796000000", "kind": "dir", "files": "3", "newest": "1795996400 2048 /b/db.tar.gz",
            "readable": "1", **more}


def test_backup_verdicts_say_what_is_wrong() -> None:
    ok = judge_backup(facts(), args("backup_verify", path="/b"))
    assert ok.status == "ok" and ok.msg == "/b/db.tar.gz: 2048 bytes, 1.0 h old"
    assert ok.data["age_hours"] == 1.0 and ok.data["files"] == 3
    bad = judge_backup(facts(readable="0"), args("backup_verify", path="/b", max_age_hours="0.5",
                                                 min_size_bytes=4096))
    assert bad.status == "failed"
    assert bad.msg == "/b/db.tar.gz: 2048 bytes, 1.0 h old: not readable; older than 0.5 h; smaller than 4096 bytes"
    digest = "a" * 64
    mism = judge_backup(facts(sha256="b" * 64), args("backup_verify", path="/b", checksum=digest))
    assert mism.status == "failed" and mism.msg.endswith("sha256 bbbbbbbbbbbb does not match aaaaaaaaaaaa")
    side = judge_backup(facts(sha256=digest, sidecar=""), args("backup_verify", path="/b", checksum="sidecar"))
    assert side.msg.endswith("no readable sha256 in the sidecar /b/db.tar.gz.sha256")
    broken = judge_backup(facts(test="tar 2", test_said="gzip: stdin: unexpected end of file"),
                          args("backup_verify", path="/b", test_archive=True))
    assert broken.msg.endswith("tar test failed: gzip: stdin: unexpected end of file")
    assert judge_backup({"now": "1", "kind": "missing"}, args("backup_verify", path="/b")).msg == (
        "backup /b does not exist")
    with pytest.raises(ArgProblem):
        args("backup_verify", path="/b", checksum="abc")
    with pytest.raises(ArgProblem):
        args("backup_verify", path="/b", max_age_hours="soon")


@pytest.mark.parametrize(("name", "tool"), [
    ("db.tar.gz", "tar"), ("db.tgz", "tar"), ("x.tar.zst", "tar"), ("x.tar", "tar"), ("dump.sql.gz", "gzip"),
    ("a.zst", "zstd"), ("a.xz", "xz"), ("a.bz2", "bzip2"), ("a.sql", None),
])
def test_archive_tests_follow_the_extension(name: str, tool: str | None) -> None:
    assert archive_test(name) == tool


def test_signature_age_is_the_newest_database() -> None:
    av = {"now": 1796000000, "db_dir": "/var/lib/clamav", "databases": [
        {"name": "main.cvd", "mtime": 1796000000 - 30 * 86400, "size": 1, "version": 62, "built": None},
        {"name": "daily.cld", "mtime": 1796000000 - 2 * 86400, "size": 1, "version": 27000, "built": None}]}
    assert signature_age(av) == (2.0, "daily.cld version 27000")
    assert signature_age({"now": 1, "db_dir": "/x", "databases": []}) == (None, "no signature databases in /x")


def test_read_only_modules_need_no_consent() -> None:
    assert not REGISTRY[("posix", "wait_for")].changes and not REGISTRY[("posix", "backup_verify")].changes
    assert REGISTRY[("posix", "reboot")].changes and REGISTRY[("posix", "fstrim")].changes


def test_reboot_refuses_the_machine_rmmctl_runs_on() -> None:
    ctx = local_context(10)
    spec = lookup("posix", "reboot")
    assert spec is not None
    for check in (True, False):
        result = spec.run(ModuleCall(ctx, args("reboot", reboot_command="false"), check=check))
        assert result.status == "failed" and "would reboot the machine rmmctl runs on" in result.msg
    assert ctx.audit == []  # nothing ran
