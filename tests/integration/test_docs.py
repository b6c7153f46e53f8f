"""Every command line in README.md and docs/*.md is executed, so the docs cannot rot.

The lines are read from the files at test time: ```sh/console blocks (every line), unlabelled blocks
(lines that start with `rmmctl ` or `$ `) and table rows whose first cell is an `rmmctl ...` code span.
Each one must have an entry in COMMANDS below (a new line without one fails `test_every_doc_line_
has_an_entry`), which says what to run (the line itself, or a concrete instance of a synopsis with
placeholders), against what, and which exit codes it may give: 0, or 4/5/6 where hosts have findings or
are unreachable. Never 1, 2 or 3, never a traceback.

Targets: "default" is the embedded default (this machine); "example" is inventories/example.yaml with
its ssh hosts pointed at a real sshd fleet (addresses, ports, the fleet's key and known_hosts) and its
winrm hosts at WS-Management doubles answering the PowerShell probes from fixtures, set as
RMMCTL_INVENTORY and also found at ./inventories/example.yaml, so `-i inventories/example.yaml` in a
line runs against that copy as written. Lines run through `sh -c` in document order with one shared
history database, as a user would type them. `--follow` lines are bounded: SIGINT after a while,
exit 130 expected.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet import FixtureSpec, Fleet
from winfleet import PASSWORD, WinFleet
from rmmctl.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example.yaml"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"sh", "console", "shell", "bash"}
OK, FINDINGS = {0}, {0, 4, 5}  # FINDINGS: depends on this machine's updates, disks, reboot flag ...
WINRM = {4, 5}  # the pattern includes the example's Windows hosts (doubles with findings: a stuck queue ...)


@dataclass(frozen=True)
class Case:
    """How one doc line runs. `run`: the shell line (default: the doc line; a synopsis names a concrete
    instance); `target`: "default" or "example"; `codes`: the exit codes it may give."""

    codes: frozenset[int]
    run: str | None = None
    target: str = "example"
    interrupt: bool = False  # --follow: SIGINT once its first poll is recorded, expect 130
    bug: str = ""  # a known open defect (issue item, owner): the line must fail until it is fixed


def case(codes: set[int], run: str | None = None, target: str = "example", interrupt: bool = False,
         bug: str = "") -> Case:
    return Case(frozenset(codes), run, target, interrupt, bug)


# The doc line (comment stripped, `$ ` dropped) -> how it runs. Keep one entry per line.
COMMANDS: dict[str, Case] = {
    # README: quick start. `pip install .` is proved without touching the shared environment (a dry run
    # that builds the package's metadata); `scripts/test` is the suite itself (it runs in CI, .ci/run,
    # and tests/integration/test_scripts_test.py runs the real script with apt-get/python3 shims).
    "pip install . && rmmctl status": case(
        FINDINGS, f"python3 -m pip install -q --dry-run --no-deps {ROOT} && rmmctl status", target="default"),
    "scripts/test": case(OK, f"bash -n {ROOT / 'scripts' / 'test'}", target="default"),
    # README: using it (RMMCTL_INVENTORY = the example inventory on the fleet)
    "rmmctl -h": case(OK),
    "rmmctl status acme -i inventories/example.yaml": case(WINRM),
    "rmmctl metrics app01": case(FINDINGS),
    "rmmctl logs 'acme:&linux' --since 2h --level err --grep 'I/O error'": case(OK),
    "rmmctl logs fs01 --source nginx --follow": case({130}, interrupt=True),
    "rmmctl history metrics fs01 --metric disk./": case(OK),
    "rmmctl diagnose acme": case(WINRM),
    "rmmctl diagnose cups01 --check printers": case(FINDINGS),
    "rmmctl diagnose app01 --check disk --nagios": case({0, 1, 2}),  # Nagios plugin codes by design
    "rmmctl diagnose app01 --check disk --fix --dry-run": case(FINDINGS),  # check mode only: nothing changes
    "rmmctl history findings": case(OK),
    "rmmctl inventory check -i inventories/example.yaml": case(OK),
    "rmmctl inventory list 'acme:&linux' -i inventories/example.yaml": case(OK),
    "rmmctl inventory graph": case(OK),
    "rmmctl hostkeys scan acme": case(WINRM),
    # approve gives 6 for the same hosts scan gives 5 for (winrm, behind proxy_jump): A3's one exit_code_for
    "rmmctl hostkeys approve acme --yes": case({5, 6}),
    "rmmctl ping acme": case(OK),  # ssh and Windows hosts alike (the Windows ones on their doubles)
    # README and docs/doctor.md: one host step by step; app01 is a plain fleet host (every step ok)
    "rmmctl doctor ssh app01": case(OK),
    "rmmctl doctor ssh app01 --become -o json": case(OK),
    # README and docs/doctor.md: print01 is a Windows host (here on its double, NTLM over http): every step ok
    "rmmctl doctor winrm print01 --connect-timeout 2": case(OK),
    # docs/shell.md: the WinRM prompt's stdin mode (no terminal here), then the session's audit rows
    "echo 'Get-Service' | rmmctl shell print01": case(OK),
    "rmmctl history audit --host print01.acme.example": case(OK),
    "rmmctl run 'acme:!os=windows' -- df -h /": case(OK),
    # README, Windows hosts: the example's Windows hosts on their doubles (see WINDOWS_CASES)
    "rmmctl status windows": case({5}),  # globex's fs02 reads its password with `pass`, missing here: a host error
    "rmmctl diagnose print01 --check printers": case({4}),  # the stuck queue is a warning
    "rmmctl logs dc01 --source System --since 2h --level warning": case(OK),
    "rmmctl run print01 -- Get-Service Spooler": case(OK),
    "rmmctl run print01 --cmd 'ipconfig /all'": case(OK),
    "rmmctl run app01 --shell 'journalctl -p err | tail'": case(OK),
    "rmmctl run db* --become -- systemctl restart postgresql": case(OK),
    "rmmctl history": case(OK),
    # README and docs/playbooks.md: `rmmctl play` with the shipped playbook. Check mode reads the docs
    # fleet's real /etc/motd and sshd_config (its hosts share this machine's filesystem) and changes
    # nothing; the real run writes files in the work folder instead (-e beats the play's vars).
    "rmmctl play playbooks/motd.yaml globex --check --diff": case(OK),
    "rmmctl play playbooks/motd.yaml globex -e motd_contact='Globex IT, 555-0100' --yes": case(
        OK, "printf '#PrintMotd no\\n' > sshd_config && rmmctl play playbooks/motd.yaml globex "
            "-e motd_contact='Globex IT, 555-0100' -e motd_file=$PWD/motd -e sshd_config=$PWD/sshd_config --yes "
            "&& grep -qx 'PrintMotd yes' sshd_config && grep -q 'Globex IT, 555-0100' motd"),
    "rmmctl play playbooks/motd.yaml app01 --check -o json": case(OK),
    # the last motd run (the line above, app01) failed nowhere: "nothing to re-run", exit 0
    "rmmctl play playbooks/motd.yaml globex --yes -l @last-failed": case(OK),
    "rmmctl history --command play -n 5": case(OK),
    "rmmctl play --list": case(OK),  # README and docs/playbooks.md
    # by name; in a folder of its own: the work folder holds a file `motd` (the real run above wrote it),
    # and a path that exists wins over a shipped name
    "rmmctl play motd globex --check": case(OK, "mkdir -p by-name && cd by-name && rmmctl play motd globex --check"),
    # docs/playbooks.md, maintenance windows: acme has "Sun 02:00-04:00" (Europe/Berlin); outside it the
    # hosts are skipped unconnected (0), with --ignore-window the plan runs (wh-pos01's sudo password var
    # is not set here: that host fails, 5)
    "rmmctl play playbooks/motd.yaml acme --check": case({0, 5}),
    "rmmctl play playbooks/motd.yaml acme --check --ignore-window": case({0, 5}),
    "rmmctl play PLAYBOOK [PATTERN] [--check] [--diff] [-e KEY=VALUE|@FILE ...] [--tags T] [--skip-tags T] "
    "[--start-at-task NAME] [-l PATTERN|@last-failed] [--ignore-window] [--yes]": case(
        OK, "printf 'motd_contact: docs\\n' > docs-vars.yaml && rmmctl play playbooks/motd.yaml app01 --check --diff "
            "-e @docs-vars.yaml --skip-tags never --start-at-task 'Banner text' -l 'app01*' --ignore-window"),
    # docs/playbooks.md: cups01 has no scheduler here, so the plan is "would start the CUPS scheduler"
    "rmmctl play playbooks/printer-repair.yaml cups01 --check": case({0, 5}),  # 5: a queue that would stay broken
    # docs/diagnose.md
    "rmmctl diagnose [PATTERN] [--check ID|GROUP ...] [--fail-on warning|critical] [--nagios] [--list]": case(
        FINDINGS, "rmmctl diagnose linux --check disk --check memory --fail-on critical && rmmctl diagnose --list"),
    "rmmctl diagnose [PATTERN] [--check ID|GROUP ...] --fix [--yes | --dry-run] [-o table|json|yaml]": case(
        FINDINGS, "rmmctl diagnose linux --check disk --fix --dry-run -o json"),  # never a real run here
    # docs/history.md
    "rmmctl history [runs] [-n 20] [--command status]": case(OK, "rmmctl history runs -n 20 --command status"),
    "rmmctl history show RUN_ID": case(OK, "rmmctl history show 1"),
    "rmmctl history audit [--host H] [--run ID] [-n 50]": case(
        OK, "rmmctl history audit --host app01.globex.example --run 1 -n 50"),
    "rmmctl history metrics HOST [--metric PREFIX] [--since 7d] [-n 1000]": case(
        OK, "rmmctl history metrics app01 --metric disk --since 7d -n 1000"),
    "rmmctl history metrics app01 --metric disk./": case(OK),
    # docs/report.md: the history so far (the README's and the other pages' runs on the example's acme hosts)
    "rmmctl report [PATTERN] [--client NAME] [--period 30d|7d|YYYY-MM] [-o html|md|json|pdf] [--out FILE] "
    "[--msp-name NAME] [--logo PATH] [--chromium PATH]": case(
        OK, "printf '<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\"/>' > logo.svg && "
            "rmmctl report acme --client acme --period 30d -o html --out synopsis.html --msp-name 'Example MSP' "
            "--logo logo.svg --chromium chromium && grep -q 'src=\"data:image/svg+xml;base64,' synopsis.html "
            "&& ! grep -Eq '(src|href)=\"(https?:)?//' synopsis.html && grep -q 'fs01.acme.example' synopsis.html"),
    "rmmctl report acme --period 7d -o md --out acme-week.md": case(
        OK, "rmmctl report acme --period 7d -o md --out acme-week.md "
            "&& grep -q '^# acme: report for last 7 days' acme-week.md && grep -q '| fs01.acme.example |' acme-week.md"),
    "rmmctl report --client acme --msp-name \"Example MSP\" --out acme.html": case(OK),
    "rmmctl report acme -o json --out acme.json": case(
        OK, "rmmctl report acme -o json --out acme.json && python3 -c \"import json; d = json.load(open('acme.json'));"
            " assert d['client']['name'] == 'acme' and d['hosts'], d['summary']\""),
    "rmmctl report acme -o pdf --out acme.pdf": case(OK, "rmmctl report acme -o pdf --out acme.pdf && "
                                                         "head -c 5 acme.pdf | grep -q '%PDF-'"),
    # docs/inventory.md ("Inspecting the result" table)
    "rmmctl inventory list [PATTERN]": case(OK, "rmmctl inventory list acme"),
    # `rmmctl inventory graph` is here too: one entry (above) serves every file that has the line
    "rmmctl inventory host NAME": case(OK, "rmmctl inventory host fs01"),
    "rmmctl inventory check": case(OK),
    # docs/config.md, docs/alerts.md: the shipped example configuration (loopback channels, nothing sent)
    "rmmctl config check --config examples/config.yaml": case(
        OK, f"rmmctl config check --config {ROOT / 'examples' / 'config.yaml'}", target="default"),
    "rmmctl config show --config examples/config.yaml": case(
        OK, f"rmmctl config show --config {ROOT / 'examples' / 'config.yaml'}", target="default"),
    "rmmctl alerts list": case(OK),
    "rmmctl alerts history -n 20": case(OK),
    "rmmctl alerts list -o json": case(OK),
    # docs/cron.md: the crontab and the units as printed for the example (their lines are run against the
    # fleet by tests/integration/test_cron_schedule.py, with a maintenance playbook that changes nothing
    # here: the fleet hosts share this machine's filesystem); `rmmctl inventory check -i ...` is above
    "rmmctl schedule -i inventories/example.yaml": case(
        OK, "rmmctl schedule -i inventories/example.yaml > rmmctl.cron"
            " && grep -Eq '^[*]/5 [*] [*] [*] [*] [^ ]+ /[^ ]+ status all --alert -i /[^ ]+ .*--lock --quiet "
            "--log-file /' rmmctl.cron && grep -Eq '^0 (0|1) [*] [*] 0 .* play os-updates [^ ]*fs01' rmmctl.cron"
            " && grep -q 'report --client globex' rmmctl.cron"),
    "rmmctl schedule --systemd -i inventories/example.yaml": case(
        OK, "rmmctl schedule --systemd -i inventories/example.yaml > units.txt"
            " && grep -qx 'OnCalendar=Sun [*]-[*]-[*] 02:00:00 Europe/Berlin' units.txt"
            " && grep -q '^# file: /etc/systemd/system/rmmctl-status.timer$' units.txt"),
    "rmmctl ping acme --lock --quiet --log-file logs/ping.log": case(
        OK, "out=$(rmmctl ping acme --lock --quiet --log-file logs/ping.log 2>&1) && test -z \"$out\""
            " && grep -q \"INFO rmmctl.lock: lock 'ping \" logs/ping.log"),
    "rmmctl status app01 --lock --lock-wait 30 --quiet": case(FINDINGS),
    # docs/watch.md: watch needs a terminal; here stdout is a pipe, so each line must refuse with exit 2
    # (tests/integration/test_watch.py drives it under a pty)
    "rmmctl watch": case({2}, target="default"),
    "rmmctl watch acme --interval 10": case({2}),
    "rmmctl watch 'acme:&linux' -i inventories/example.yaml --no-record": case({2}),
    "rmmctl watch acme -v --log-file /var/log/rmmctl/watch.log": case({2}),
    "rmmctl watch acme -vv 2>watch-debug.log": case({2}),
}


# ------------------------------------------------------------------ extraction


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def doc_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, command) for every command line in one Markdown file."""
    out: list[tuple[int, str]] = []
    lang: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^\s*```+\s*([\w+-]*)", raw)
        if fence:
            lang = None if lang is not None else fence.group(1).lower()
            continue
        line = raw.strip()
        if lang is None:  # prose: only table rows whose first cell is an rmmctl command
            cell = re.match(r"^\|\s*`(rmmctl [^`]*)`\s*\|", line)
            if cell:
                out.append((number, cell.group(1).replace("\\|", "|")))
            continue
        if not line or line.startswith("#"):
            continue
        if lang in SHELL_LANGS or (lang == "" and (line.startswith("rmmctl ") or line.startswith("$ "))):
            if lang == "console" and not line.startswith("$ "):
                continue  # output of the command above
            text = _strip_comment(line.removeprefix("$ "))
            if lang == "":  # a synopsis block: `rmmctl x [ARGS]     what it does`
                text = re.sub(r"\s{3,}\S.*$", "", text)
            out.append((number, text))
    return out


def all_doc_lines() -> list[tuple[str, int, str]]:
    return [(p.relative_to(ROOT).as_posix(), n, text) for p in DOCS for n, text in doc_lines(p)]


def test_every_doc_line_has_an_entry() -> None:
    lines = all_doc_lines()
    assert len(lines) >= 30  # the extraction still finds the blocks
    missing = [f"{f}:{n}: {text}" for f, n, text in lines if text not in COMMANDS]
    assert not missing, "doc command lines without an entry in COMMANDS (say how to run them):\n" + "\n".join(missing)
    stale = sorted(set(COMMANDS) - {text for _, _, text in lines})
    assert not stale, f"COMMANDS entries no doc line has any more: {stale}"


def test_extraction_reads_sh_console_unlabelled_blocks_and_tables(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text `rmmctl prose` is not a command\n"
        "```sh\nrmmctl a   # comment\n\nexport X=1\n```\n"
        "```console\n$ rmmctl b -o json\n{\"output\": 1}\n```\n"
        "```\nrmmctl c [X]     what c does\noutput line\n$ rmmctl d\n```\n"
        "```json\n{\"rmmctl e\": 1}\n```\n"
        "| command | meaning |\n|---|---|\n| `rmmctl f [NAME]` | x \\| y |\n| `-o` | not a command |\n"
    )
    assert [t for _, t in doc_lines(page)] == ["rmmctl a", "export X=1", "rmmctl b -o json", "rmmctl c [X]",
                                                "rmmctl d", "rmmctl f [NAME]"]


def test_readme_says_what_a_new_user_meets_first() -> None:
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "Exit code 4 or 5 on this first `rmmctl status` is normal** on a machine with pending" in text
    assert "only the WinRM transport" not in text and "### Windows hosts (WinRM)" in text
    example = load_inventory(EXAMPLE)
    for short in ("app01", "fs01", "cups01", "print01", "db01"):  # the README's host names
        assert sum(name.split(".", 1)[0] == short for name in example.hosts) == 1, short


# ------------------------------------------------------------------ environment


WINRM_HOSTS = [h.name for h in load_inventory(EXAMPLE).hosts.values() if h.connection == "winrm"]
# What the example's Windows hosts answer (their WS-Management doubles' fixture cases): the print server
# has a stuck queue, the warehouse's printer driver fails to load, the domain controller is healthy.
WINDOWS_CASES = {"print01.acme.example": {"*": "healthy", "printers": "stuck_queue"},
                 "wh-print01.acme.example": {"printers": "driver_failing"},
                 "dc01.acme.example": {"*": "healthy"}}


def write_example_for_fleet(fleet: Fleet, folder: Path, windows: WinFleet | None = None) -> Path:
    """inventories/example.yaml with its ssh hosts on the fleet (address, port, root, the fleet's key) and
    the fleet's known_hosts copied beside it; everything else (clients, sites, groups, winrm hosts,
    proxy_jump, vars) as shipped, but the winrm hosts on loopback: each on its WS-Management double
    (`windows`, NTLM over http as the example's winrm_transport says), else on a closed port."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    ssh_hosts = [h.name for h in load_inventory(EXAMPLE).hosts.values() if h.connection == "ssh"]
    assert len(ssh_hosts) <= len(fleet.hosts)
    where = {name: fleet.host(i) for i, name in enumerate(ssh_hosts, start=1)}
    # The winrm hosts keep their documentation addresses in the docs, but a test only ever talks to loopback.
    winrm_hosts = set(WINRM_HOSTS)
    closed_address, closed_port = fleet.closed_port

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "hosts" and isinstance(value, dict):
                    for name, entry in value.items():
                        if name in where:
                            h = where[name]
                            entry.update(address=h.address, port=h.port, user="root", key_file=str(fleet.client_key))
                        elif name in winrm_hosts and windows is not None:
                            entry.update(address="127.0.0.1", port=windows.doubles[name].port)
                            entry.setdefault("vars", {})["winrm_scheme"] = "http"
                        elif name in winrm_hosts:
                            entry.update(address=closed_address, port=closed_port)
                visit(value)

    visit(doc)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(fleet.known_hosts, folder / doc["known_hosts"])
    path = folder / "example.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class DocsEnv:
    cwd: Path
    env: dict[str, str]
    inventory: Path


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from conftest import require_fleet

    require_fleet()
    base = tmp_path_factory.mktemp("docs")
    # `systemctl` on the fleet hosts is a shim (they share this machine's filesystem): the README's
    # `systemctl restart postgresql` runs through ssh and sudo for real but restarts nothing here.
    # A syslog with a recent disk error, so the README's `logs --grep 'I/O error'` line finds what it looks for.
    now = dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    syslog = f"{now} fleet kernel: blk_update_request: I/O error, dev sda, sector 2048 op 0x0:(READ)\n"
    shim = FixtureSpec(bin={"systemctl": "#!/bin/sh\necho \"systemctl $*: shim of the docs test\"\n"},
                       log={"syslog": syslog})
    with Fleet(base / "fleet", prefix="docs") as fleet, \
            WinFleet(names=WINRM_HOSTS, cases=WINDOWS_CASES, auth="ntlm", user="ACME\\rmm-svc") as windows:
        fleet.start(6, fixtures={f"docs-{i:02d}": shim for i in range(1, 7)})
        cwd = base / "work"
        inventory = write_example_for_fleet(fleet, cwd / "inventories", windows)
        shutil.copytree(ROOT / "playbooks", cwd / "playbooks")  # `rmmctl play playbooks/...` as written
        bin_dir = base / "bin"
        bin_dir.mkdir()
        (bin_dir / "rmmctl").write_text(f"#!/bin/sh\nexec {sys.executable} -m rmmctl \"$@\"\n")
        (bin_dir / "rmmctl").chmod(0o755)
        home = base / "home"
        (home / ".ssh").mkdir(parents=True)
        env = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(ROOT / "src"),
            "HOME": str(home),
            "RMMCTL_DB": str(base / "rmmctl.db"),
            "LANG": "C.UTF-8",
            "COLUMNS": "160",
            "ACME_WINRM_PASSWORD": PASSWORD,  # the example's Windows hosts read it (password_env)
        }
        yield DocsEnv(cwd, env, inventory)
        windows.check_clean()


def _last_run_id(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0])


def _wait_for_new_run(db: Path, after: int, proc: subprocess.Popen[str], deadline: float) -> None:
    """Until the followed command has recorded its first poll (a new row in `runs`): a readiness check."""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _last_run_id(db) > after:
                return
        except sqlite3.OperationalError:
            pass  # the database is being created
        time.sleep(0.05)  # poll interval
    pytest.fail(f"the followed command recorded no poll (exit {proc.poll()})")


def _run(line: str, c: Case, docs: DocsEnv) -> tuple[int, str, str]:
    env = dict(docs.env)
    if c.target == "example":
        env["RMMCTL_INVENTORY"] = str(docs.inventory)
    db = Path(env["RMMCTL_DB"])
    before = _last_run_id(db)
    command = c.run or line
    proc = subprocess.Popen(
        ["sh", "-c", f"exec {command}" if c.interrupt else command], cwd=docs.cwd, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    if c.interrupt:
        _wait_for_new_run(db, before, proc, time.monotonic() + 60)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{line!r} did not finish within 120 s:\n{err[-2000:]}")
    return proc.returncode, out, err


def in_first_half(path: str) -> bool:
    """README.md and docs/a* to docs/h* run here; docs/i* on in test_docs_more.py, on a fleet of their own,
    so the two halves can run on both workers (each half keeps its own history, in document order)."""
    return path == "README.md" or Path(path).name[:1].lower() < "i"


@pytest.mark.parametrize(("where", "line"), [(f"{f}:{n}", t) for f, n, t in all_doc_lines() if in_first_half(f)])
def test_doc_line_runs(where: str, line: str, docs_env: DocsEnv) -> None:
    check_line(where, line, docs_env)


def check_line(where: str, line: str, docs_env: DocsEnv) -> None:
    """Run one doc line as its COMMANDS entry says and judge it."""
    c = COMMANDS.get(line)
    if c is None:
        pytest.fail(f"{where}: {line!r} has no entry in COMMANDS")
    started = time.monotonic()
    code, out, err = _run(line, c, docs_env)
    shown = (f"{where}: {line!r} -> exit {code} in {time.monotonic() - started:.1f} s\n"
             f"stdout: {out[-1500:]}\nstderr: {err[-1500:]}")
    works = "Traceback" not in out + err and "internal error" not in err and code in c.codes
    if c.bug:
        if works:
            pytest.fail(f"{where}: {line!r} works now: drop bug={c.bug!r} from its COMMANDS entry")
        pytest.xfail(f"known open defect {c.bug}")
    assert "Traceback" not in out + err, shown
    assert "internal error" not in err, shown
    assert code in c.codes, shown
