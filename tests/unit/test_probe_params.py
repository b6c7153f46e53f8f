"""Probe parameters (backup paths, log match, ClamAV db dir): shell-quoted, never interpolated, and the
backup/av/logs sections that read them, run for real under dash and busybox sh and through the local prober."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from localctx import local_context
from rmmctl import probes
from rmmctl.probes import linux
from rmmctl.probes.linux import bundle

NONCE = "pa7a3e7e75c0ffee"
SHELLS = [s for s in (["dash", "-s"], ["busybox", "sh", "-s"]) if shutil.which(s[0])]


def run_probe(shell: list[str], sections: list[str], params: dict[str, object], **kw: object) -> dict:
    script = bundle.build_script(sections, nonce=NONCE, params=params, **kw)  # type: ignore[arg-type]
    out = subprocess.run(shell, input=script.encode(), capture_output=True, timeout=30, check=True).stdout.decode()
    return linux.parse_output(out, NONCE, sections, controller_time=time.time()).to_jsonable()


def test_params_are_shell_quoted_assignments() -> None:
    text = bundle.render_params({"BACKUP_PATHS": ["/a b", "/it's"], "AV_DB_DIR": "/x"})
    assert text == "P_AV_DB_DIR=/x\nP_BACKUP_PATHS='/a b\n/it'\"'\"'s'\n"


@pytest.mark.parametrize("params", [{"bad-name": "x"}, {"lower": "x"}, {"P": ["a\nb", "c"]}, {"P": "a\0b"},
                                    {"P": [1]}])
def test_bad_params_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="probe parameter"):
        bundle.build_script(["backup"], nonce=NONCE, params=params)  # type: ignore[arg-type]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_hostile_paths_are_data_not_code(shell: list[str], tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    hostile = [f"/nonexistent/$(touch {canary})", f"/nonexistent/`touch {canary}`", f"/x'; touch {canary}; '",
               f'/x"; touch {canary}; "']
    facts = run_probe(shell, ["backup"], {"BACKUP_PATHS": hostile})
    assert [p["path"] for p in facts["backup"]["paths"]] == hostile
    assert {p["kind"] for p in facts["backup"]["paths"]} == {"missing"}
    assert not canary.exists()


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_backup_section_stats_files_and_directories(shell: list[str], tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "old").write_bytes(b"x" * 10)
    os.utime(tmp_path / "dir" / "old", (1_700_000_000, 1_700_000_000))
    (tmp_path / "dir" / "sub" / "new one").write_bytes(b"y" * 7)
    os.utime(tmp_path / "dir" / "sub" / "new one", (1_700_000_500, 1_700_000_500))
    (tmp_path / "file.tar").write_bytes(b"z" * 3)
    paths = [str(tmp_path / "file.tar"), str(tmp_path / "dir"), str(tmp_path / "gone")]
    got = run_probe(shell, ["backup"], {"BACKUP_PATHS": paths})["backup"]
    file_, dir_, gone = got["paths"]
    assert (file_["kind"], file_["size"]) == ("file", 3)
    assert dir_ == {"path": paths[1], "kind": "dir", "mtime": 1_700_000_500, "size": 7,
                    "newest": str(tmp_path / "dir" / "sub" / "new one"), "files": 2}
    assert gone["kind"] == "missing" and abs(got["now"] - time.time()) < 60


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_av_section_reads_a_given_database_directory(shell: list[str], tmp_path: Path) -> None:
    (tmp_path / "daily.cld").write_bytes(b"ClamAV-VDB:17 Nov 2026 04-36 +0000:27461:2065812:90:x".ljust(512) + b"\0\1")
    os.utime(tmp_path / "daily.cld", (1_795_000_000, 1_795_000_000))
    av = run_probe(shell, ["av"], {"AV_DB_DIR": str(tmp_path)})["av"]
    assert av["db_dir"] == str(tmp_path)
    assert av["databases"] == [{"name": "daily.cld", "mtime": 1_795_000_000, "size": 514, "version": 27461,
                                "built": "17 Nov 2026 04-36 +0000"}]


def test_log_window_must_be_digits() -> None:
    script = bundle.build_script(["logs"], nonce=NONCE, params={"LOG_WINDOW_S": "1; touch /tmp/x"})
    assert "case ${P_LOG_WINDOW_S:-} in \"\"|*[!0-9]*) P_LOG_WINDOW_S=86400;; esac" in script
    assert "P_LOG_WINDOW_S='1; touch /tmp/x'" in script


def test_local_facts_pass_params_to_the_local_script(tmp_path: Path) -> None:
    (tmp_path / "b.tar").write_bytes(b"1234")
    facts = probes.collect(local_context(), ["backup", "av"], {"BACKUP_PATHS": [str(tmp_path / "b.tar")],
                                                                "AV_DB_DIR": str(tmp_path / "none")})
    assert facts["backup"]["paths"][0]["size"] == 4
    assert facts["av"] == {"unavailable": f"ClamAV is not installed (no freshclam or clamscan, no {tmp_path}/none)"} \
        or facts["av"]["tools"]  # a machine with ClamAV installed reports it
