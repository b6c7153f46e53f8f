"""`script`, `fetch`, copy's owner/group and lineinfile's insert/backrefs on the real sshd fleet (the hosts
share this filesystem, so their files live in tmp_path): check mode changes nothing (hashes, owners and
the local fetch folder before and after), a real run changes then settles (a second run is ok), templated
values stay data, transfers are in the audit log, the script's private folder is always removed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from conftest import cli
from fleet import Fleet
from test_play import doc, play, setup

SCRIPT = """\
#!/bin/sh
# writes its arguments, one a line, and where it ran, to the file named by its first argument
out=$1; shift
{ pwd; for a in "$@"; do printf '%s\\n' "$a"; done; } > "$out"
echo "wrote $out"
"""


def snapshot(*tops: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every file below the tops: content hash, mode, owner and group."""
    out = {}
    for top in tops:
        for folder, _, files in os.walk(top):
            for name in files:
                p = Path(folder, name)
                st = p.lstat()
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode & 0o7777, st.st_uid, st.st_gid)
    return out


def tasks_of(result: Any, host: str = "fleet-01") -> list[dict[str, Any]]:
    assert result.exit_code in (0, 5), result.output
    return doc(result)[host]["data"]["tasks"]


def audit_rows() -> list[dict[str, Any]]:
    return json.loads(cli("history", "audit", "-n", "200", "--json").stdout)["audit"]


def test_script_runs_uploaded_then_removed_and_creates_makes_it_settle(fleet: Fleet, env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "write-args.sh").write_text(SCRIPT)
    work, marks = tmp_path / "work", tmp_path / "marks"
    work.mkdir()
    marks.mkdir()
    evil = f"$(touch {marks}/a) `touch {marks}/b`;touch {marks}/c"
    text = f"""\
hosts: all
tasks:
  - name: run the script
    script:
      cmd: files/write-args.sh {work}/{{{{ inventory_hostname }}}}.out "{{{{ evil }}}}" plain
      chdir: /tmp
      creates: "{work}/{{{{ inventory_hostname }}}}.out"
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1, 2])
    before = snapshot(work, tmp_path / "files")
    dry = play(inv, book, "--check", "-e", f"evil={evil}", "-o", "json")
    assert dry.exit_code == 0, dry.output
    assert [t["status"] for t in tasks_of(dry)] == ["changed"]
    assert "would run" in tasks_of(dry)[0]["message"]
    assert snapshot(work, tmp_path / "files") == before and not list(work.iterdir())

    run = play(inv, book, "--yes", "-e", f"evil={evil}", "-o", "json")
    assert run.exit_code == 0, run.output
    assert [t["status"] for t in tasks_of(run, "fleet-02")] == ["changed"]
    assert (work / "fleet-01.out").read_text() == f"/tmp\n{evil}\nplain\n"  # the value reached it as one word
    assert not list(marks.iterdir())  # never run
    puts = [r for r in audit_rows() if r["action"] == "put"]
    assert len(puts) == 2 and all(r["exit_code"] == 0 and "write-args.sh -> /" in r["detail"] for r in puts)
    for row in puts:  # the private folder went with the script
        assert not Path(row["detail"].split(" -> ")[1]).parent.exists()

    again = play(inv, book, "--yes", "-e", f"evil={evil}", "-o", "json")
    assert [t["status"] for t in tasks_of(again)] == ["ok"]
    assert "exists (creates)" in tasks_of(again)[0]["message"]


def test_a_failing_or_timed_out_script_fails_and_leaves_nothing_behind(fleet: Fleet, env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    (tmp_path / "fail.sh").write_text("#!/bin/sh\necho bad >&2\nexit 3\n")
    (tmp_path / "slow.sh").write_text("#!/bin/sh\nsleep 30\n")
    text = """\
hosts: all
tasks:
  - script: fail.sh
    ignore_errors: true
  - script: {cmd: slow.sh, executable: /bin/sh}
    timeout: 1
    become: true
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    result = play(inv, book, "--yes", "-o", "json")
    assert result.exit_code == 5, result.output
    first, second = tasks_of(result)
    assert (first["status"], first["message"], first["data"]["rc"]) == ("failed", "rc=3: bad", 3)
    assert second["status"] == "failed" and "timed out" in second["message"]
    puts = [r for r in audit_rows() if r["action"] == "put"]
    assert len(puts) == 2
    for row in puts:
        assert not Path(row["detail"].split(" -> ")[1]).parent.exists()


def test_fetch_lands_per_host_plans_without_writing_and_settles(fleet: Fleet, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "app.log").write_text("line 1\n")
    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    text = f"""\
hosts: all
tasks:
  - name: the log
    fetch: {{src: "{remote}/app.log", dest: out}}
  - name: flat, into a folder
    fetch: {{src: "{remote}/app.log", dest: "flat/{{{{ inventory_hostname }}}}/", flat: true}}
  - name: missing is fine here
    fetch: {{src: "{remote}/{{{{ evil }}}}", dest: out, fail_on_missing: false}}
  - name: through sudo
    fetch: {{src: "{remote}/app.log", dest: sudo}}
    become: true
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1, 2])
    evil = f"$(touch {marks}/x)"
    before = snapshot(remote)
    dry = play(inv, book, "--check", "-e", f"evil={evil}", "-o", "json")
    assert dry.exit_code == 0, dry.output
    assert [t["status"] for t in tasks_of(dry)] == ["changed", "changed", "ok", "changed"]
    assert not out.exists() and not (tmp_path / "flat").exists() and not (tmp_path / "sudo").exists()
    assert snapshot(remote) == before

    run = play(inv, book, "-e", f"evil={evil}", "-o", "json")  # fetch changes no host: no consent needed
    assert run.exit_code == 0, run.output
    assert [t["status"] for t in tasks_of(run, "fleet-02")] == ["changed", "changed", "ok", "changed"]
    for host in ("fleet-01", "fleet-02"):
        assert (out / host / str(remote).lstrip("/") / "app.log").read_text() == "line 1\n"
        assert (tmp_path / "sudo" / host / str(remote).lstrip("/") / "app.log").read_text() == "line 1\n"
        assert (tmp_path / "flat" / host / "app.log").read_text() == "line 1\n"
    assert not list(marks.iterdir())
    assert any(r["action"] == "get" and r["exit_code"] == 0 for r in audit_rows())

    again = play(inv, book, "-e", f"evil={evil}", "-o", "json")
    assert [t["status"] for t in tasks_of(again)] == ["ok", "ok", "ok", "ok"]
    (remote / "app.log").write_text("line 1\nline 2\n")  # changed on the host: fetched again
    third = play(inv, book, "-e", f"evil={evil}", "-o", "json")
    assert [t["status"] for t in tasks_of(third)] == ["changed", "changed", "ok", "changed"]


def test_fetch_refuses_to_climb_out_of_dest_and_a_missing_file_fails(fleet: Fleet, env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    text = """\
hosts: all
tasks:
  - fetch: {src: "{{ where }}", dest: out}
    ignore_errors: true
  - fetch: {src: /nonexistent/file, dest: out}
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    result = play(inv, book, "-e", "where=/etc/../../etc/passwd", "-o", "json")
    assert result.exit_code == 5
    climb, missing = tasks_of(result)
    assert climb["status"] == "failed" and "'..'" in climb["message"]
    assert missing["status"] == "failed" and "does not exist" in missing["message"]
    assert not (tmp_path / "out").exists()
    literal = setup(fleet, tmp_path, "hosts: all\ntasks:\n  - fetch: {src: ../x, dest: out}\n", hosts=[1])
    bad = play(*literal)
    assert bad.exit_code == 3 and "fetch.src" in bad.output


def test_copy_owner_group_and_lineinfile_insert_backrefs_plan_change_and_settle(fleet: Fleet, env: dict[str, str],
                                                                                tmp_path: Path) -> None:
    files, marks = tmp_path / "files", tmp_path / "marks"
    files.mkdir()
    marks.mkdir()
    (files / "owned.conf").write_text("x=1\n")
    (files / "app.ini").write_text("[main]\nport=80\n[other]\nhost=old.example\n")
    text = f"""\
hosts: all
tasks:
  - name: owner and group
    copy: {{dest: "{files}/owned.conf", content: "x=1\\n", owner: nobody, group: "{{{{ grp }}}}"}}
  - name: after the section
    lineinfile: {{path: "{files}/app.ini", line: "timeout={{{{ evil }}}}", insertafter: '^\\[main\\]'}}
  - name: backrefs keep the key
    lineinfile: {{path: "{files}/app.ini", regexp: '^(host=).*', line: '\\g<1>new.example', backrefs: true}}
  - name: before the first line
    lineinfile: {{path: "{files}/app.ini", line: "# managed", insertbefore: BOF}}
  - name: new file, folders made
    lineinfile: {{path: "{files}/sub/new.conf", line: "a=1", create: true, mode: "0600"}}
  - name: gone
    lineinfile: {{path: "{files}/app.ini", search_string: "port=", state: absent}}
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    evil = f"$(touch {marks}/x)"
    extra = ["-e", f"evil={evil}", "-e", "grp=nogroup"]
    before = snapshot(files)
    dry = play(inv, book, "--check", "--diff", *extra, "-o", "json")
    assert dry.exit_code == 0, dry.output
    planned = tasks_of(dry)
    assert [t["status"] for t in planned] == ["changed"] * 6
    assert "owner root -> nobody, group root -> nogroup" in planned[0]["message"]
    assert snapshot(files) == before and not (files / "sub").exists()

    run = play(inv, book, "--yes", *extra, "-o", "json")
    assert [t["status"] for t in tasks_of(run)] == ["changed"] * 6, run.output
    st = (files / "owned.conf").stat()
    import grp
    import pwd
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) == ("nobody", "nogroup")
    assert (files / "app.ini").read_text() == f"# managed\n[main]\ntimeout={evil}\n[other]\nhost=new.example\n"
    assert (files / "sub" / "new.conf").read_text() == "a=1\n"
    assert (files / "sub" / "new.conf").stat().st_mode & 0o777 == 0o600
    assert not list(marks.iterdir())

    settled = snapshot(files)
    again = play(inv, book, "--yes", *extra, "-o", "json")
    assert [t["status"] for t in tasks_of(again)] == ["ok"] * 6, again.output
    assert snapshot(files) == settled
    bad = play(inv, book, "--yes", "-e", f"evil={evil}", "-e", f"grp=$(touch {marks}/g)", "-o", "json")
    first = tasks_of(bad)[0]
    assert first["status"] == "failed" and "copy.group" in first["message"]
    assert not list(marks.iterdir())


def test_a_rewritten_file_keeps_its_owner_and_group(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    import grp
    import pwd

    kept = tmp_path / "kept.conf"
    kept.write_text("a=1\n")
    os.chown(kept, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    text = f"""\
hosts: all
tasks:
  - lineinfile: {{path: "{kept}", line: "b=2"}}
  - copy: {{dest: "{kept}", content: "c=3\\n"}}
"""
    inv, book = setup(fleet, tmp_path, text, hosts=[1])
    result = play(inv, book, "--yes", "-o", "json")
    assert [t["status"] for t in tasks_of(result)] == ["changed", "changed"]
    assert [t["data"]["owner"] for t in tasks_of(result)] == ["nobody", "nobody"]
    st = kept.stat()
    assert (kept.read_text(), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) == \
        ("c=3\n", "nobody", "nogroup")
