"""`rmmctl logs` and the logs checks of `diagnose` never say "nothing" when they could not see (issue 7, B11),
on real sshd hosts with per-host fixtures (tests/fleet.py). journalctl shims print what the real one prints
(captured with a real systemd-journald 252 in a mount namespace, research/linux-diag.md):

vis-01  systemd; journalctl gives only its "not seeing messages from other users" hint (rc 0, no entries);
        a readable /var/log/syslog with an OOM kill: the syslog is read instead, and that is said
vis-02  systemd; journalctl refuses ("No journal files were opened due to insufficient permissions.", rc 1);
        no syslog file: nothing could be read, said, host warn
vis-03  systemd; the journal is empty for the window (journalctl prints nothing): said
vis-04  systemd; nothing at err, but warning/notice/info entries (the census `journalctl -o cat
        --output-fields=PRIORITY` prints one priority per line): counted, with the --level that shows them
vis-05  no systemd; a syslog with only ordinary lines, and an application log that is not in syslog format
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet

NOW = time.time()
HINT = """Hint: You are currently not seeing messages from other users and the system.
      Users in groups 'adm', 'systemd-journal' can see all messages.
      Pass -q to turn off this notice."""
JOURNAL_HINT = f"""#!/bin/sh
echo "$*" >> /run/journalctl.calls
cat >&2 <<'EOF'
{HINT}
EOF
"""
JOURNAL_DENIED = """#!/bin/sh
echo "$*" >> /run/journalctl.calls
echo "No journal files were opened due to insufficient permissions." >&2
exit 1
"""
JOURNAL_EMPTY = "#!/bin/sh\necho \"$*\" >> /run/journalctl.calls\nexit 0\n"
# Nothing at err or worse; the census (-o cat --output-fields=PRIORITY, all levels) sees 1 warning,
# 1 notice and 2 info entries; asked for warning or worse (-p 4..7), it gives the warning one.
JOURNAL_BELOW = """#!/bin/sh
echo "$*" >> /run/journalctl.calls
case "$*" in
  *"-o cat"*) printf '%%s\\n' 6 4 5 6 ;;
  *"-p 4 "*|*"-p 5 "*|*"-p 6 "*|*"-p 7 "*) echo '{"__REALTIME_TIMESTAMP":"%(us)d","PRIORITY":"4","SYSLOG_IDENTIFIER":"monitor","MESSAGE":"disk getting full"}' ;;
esac
exit 0
"""
SYSTEMD = {"systemd/system/.present": "", "journalctl.calls": ""}
PRIVATE_LOG = {"README": "a private, empty /var/log\n"}


def _stamp(age: float) -> str:
    return time.strftime("%b %e %H:%M:%S", time.localtime(NOW - age))


def specs() -> dict[str, FixtureSpec]:
    quiet = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}
    return {
        "vis-01": FixtureSpec(proc=quiet, run=SYSTEMD, bin={"journalctl": JOURNAL_HINT}, log={"syslog": (
            f"{_stamp(600)} vis-01 kernel: [99.1] Out of memory: Killed process 4242 (java)\n"
            f"{_stamp(300)} vis-01 cron[12]: (root) CMD (run-parts /etc/cron.hourly)\n")}),
        "vis-02": FixtureSpec(proc=quiet, run=SYSTEMD, bin={"journalctl": JOURNAL_DENIED}, log=PRIVATE_LOG),
        "vis-03": FixtureSpec(proc=quiet, run=SYSTEMD, bin={"journalctl": JOURNAL_EMPTY}, log=PRIVATE_LOG),
        "vis-04": FixtureSpec(proc=quiet, run=SYSTEMD, log=PRIVATE_LOG,
                              bin={"journalctl": JOURNAL_BELOW % {"us": int((NOW - 120) * 1e6)}}),
        "vis-05": FixtureSpec(proc=quiet, log={
            "syslog": (f"{_stamp(900)} vis-05 cron[12]: (root) CMD (run-parts /etc/cron.hourly)\n"
                       f"{_stamp(600)} vis-05 systemd-logind[88]: New session 4 of user backup.\n"
                       f"{_stamp(7 * 86400)} vis-05 dhclient[7]: DHCPACK of 192.0.2.5\n"),
            "app.log": ("2026-12-01 20:00:01,123 ERROR [main] payroll.Export - export failed: disk quota exceeded\n"
                        "Traceback (most recent call last):\n"
                        "ERROR: cannot open /mnt/backup\n"
                        f"{_stamp(60)} vis-05 payroll[9]: fatal: payroll export failed\n"
                        "  a continuation line that says nothing\n")}),
    }


@pytest.fixture(scope="module")
def vis_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    require_fleet()
    work = tmp_path_factory.mktemp("vis")
    with Fleet(work / "fleet", prefix="vis") as fleet:
        fleet.start(5, specs())
        yield fleet, fleet.write_inventory(work / "inventory.yaml")


def logs(inv: Path, host: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("logs", host, "-i", str(inv), "--since", "1h", "--json", *args)
    [doc] = json.loads(result.stdout)["hosts"]
    return result.exit_code, doc


def test_hint_without_entries_reads_the_syslog_and_says_so(vis_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    code, host = logs(vis_fleet[1], "vis-01")
    assert code == 0 and host["status"] == "ok", host
    meta, notes = host["data"]["logs"], host["data"]["notes"]
    assert (meta["source"], meta["file"], meta["journal"], meta["fallback"]) == ("syslog", "/var/log/syslog",
                                                                                 "unreadable", True)
    assert meta["journal_said"].startswith("Hint: You are currently not seeing messages from other users")
    assert [e["source"] for e in host["data"]["entries"]] == ["kernel"]
    assert "Out of memory: Killed process 4242" in host["data"]["entries"][0]["message"]
    assert len(notes) == 1 and notes[0].startswith("the journal is not readable by root (journalctl: Hint: ")
    assert "; read /var/log/syslog instead" in notes[0]
    table = cli("logs", "vis-01", "-i", str(vis_fleet[1]), "--since", "1h").stdout
    assert "vis-01: the journal is not readable by root" in " ".join(table.split())


def test_a_journal_that_refuses_and_no_syslog_is_said_and_warns(vis_fleet: tuple[Fleet, Path],
                                                                env: dict[str, str]) -> None:
    code, host = logs(vis_fleet[1], "vis-02")
    assert code == 4 and host["status"] == "warn"
    meta = host["data"]["logs"]
    assert (meta["source"], meta["journal"], meta["fallback"]) == ("journal", "unreadable", False)
    assert meta["journal_said"] == "No journal files were opened due to insufficient permissions."
    assert host["data"]["entries"] == []
    [note] = host["data"]["notes"]
    assert "no readable /var/log/syslog or /var/log/messages either" in note


def test_an_empty_journal_is_said(vis_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    code, host = logs(vis_fleet[1], "vis-03")
    assert code == 0 and host["data"]["entries"] == []
    meta = host["data"]["logs"]
    assert (meta["journal"], meta["fallback"], meta["below_level"]) == ("empty", False, None)
    [note] = host["data"]["notes"]
    assert note.startswith(f"the journal has no entries since {meta['since']}")
    assert ("systemd-journald is not running" in note) == (meta["journald_running"] is False)


def test_entries_below_the_level_are_counted_with_the_level_that_shows_them(vis_fleet: tuple[Fleet, Path],
                                                                            env: dict[str, str]) -> None:
    code, host = logs(vis_fleet[1], "vis-04")
    assert code == 0 and host["data"]["entries"] == []
    assert host["data"]["logs"]["below_level"] == {"warning": 1, "notice": 1, "info": 2}
    assert host["data"]["notes"] == [
        f"no entries at err or worse in journal since {host['data']['logs']['since']}; 4 less severe "
        "(1 warning, 1 notice, 2 info): see them with --level info"]
    _, warning = logs(vis_fleet[1], "vis-04", "--level", "warning")
    assert [e["message"] for e in warning["data"]["entries"]] == ["disk getting full"]
    assert warning["data"]["notes"] == [] and warning["data"]["logs"]["below_level"] is None
    _, grep = logs(vis_fleet[1], "vis-04", "--level", "warning", "--grep", "nomatch")
    assert grep["data"]["notes"] == [f"none of the 1 entries at warning or worse since "
                                     f"{grep['data']['logs']['since']} matched --grep nomatch"]


def test_only_ordinary_syslog_lines_are_counted_below_the_level(vis_fleet: tuple[Fleet, Path],
                                                                env: dict[str, str]) -> None:
    _, host = logs(vis_fleet[1], "vis-05")
    assert host["data"]["entries"] == [] and host["data"]["logs"]["journal"] is None
    assert host["data"]["logs"]["below_level"] == {"info": 2}  # the week-old line is outside the window
    assert "2 less severe (2 info): see them with --level info" in host["data"]["notes"][0]


def test_a_source_file_not_in_syslog_format_gives_plain_lines(vis_fleet: tuple[Fleet, Path],
                                                              env: dict[str, str]) -> None:
    _, host = logs(vis_fleet[1], "vis-05", "--source", "/var/log/app.log")
    got = [(e["source"], e["time"] is None, e["message"]) for e in host["data"]["entries"]]
    assert got == [
        ("/var/log/app.log", True, "2026-12-01 20:00:01,123 ERROR [main] payroll.Export - export failed: "
                                   "disk quota exceeded"),
        ("/var/log/app.log", True, "ERROR: cannot open /mnt/backup"),
        ("payroll", False, "fatal: payroll export failed"),
    ]


def test_diagnose_logs_checks_say_when_they_could_not_read(vis_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    result = cli("diagnose", "vis-01,vis-02,vis-05", "-i", str(vis_fleet[1]), "--check", "logs.oom_kill", "--json")
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    found = {n: sorted((f["check_id"], f["severity"]) for f in h["data"]["findings"]) for n, h in hosts.items()}
    assert found == {"vis-01": [("logs.oom_kill", "warning"), ("logs.unreadable", "info")],
                     "vis-02": [("logs.unreadable", "warning")], "vis-05": []}
    [blind] = hosts["vis-02"]["data"]["findings"]
    assert blind["title"] == "the journal is not readable by root"
    assert "No journal files were opened due to insufficient permissions." in blind["evidence"][0]
    assert "logs.unreadable" in hosts["vis-05"]["data"]["checks"]
    assert result.exit_code == 4


def test_follow_says_it_once_on_stderr(vis_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    args = ["logs", "vis-02", "-i", str(vis_fleet[1]), "--follow", "--interval", "1", "-o", "ndjson"]
    proc = subprocess.Popen([sys.executable, "-m", "rmmctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    assert proc.stderr is not None and proc.stdout is not None
    err, deadline = b"", time.monotonic() + 20
    try:
        while b"\n" not in err:  # ready when the first stderr line is complete
            ready, _, _ = select.select([proc.stderr], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(proc.stderr.fileno(), 65536) if ready else b""
            assert chunk, f"logs --follow said nothing on stderr (rc {proc.poll()})"
            err += chunk
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
    assert code == 130
    assert err.decode().startswith("vis-02: the journal is not readable by root (journalctl: No journal files were")
    assert proc.stdout.read() == b""  # stdout holds entries only
