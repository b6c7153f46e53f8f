"""The `printer` module and printer-repair.yaml against a real private cupsd (tests/cups.py), reached from
real sshd hosts as in test_printers.py.

rp-01  its /run/cups/cups.sock is the private cupsd's socket and /var/log/cups its log folder; the queues:
       rp-ok (healthy), rp-paused (cupsdisable, with a held job), rp-reject (cupsreject), rp-stuck (a
       job in a filter that sleeps: `processing` forever) and rp-nodriver (its PPD names a filter that
       does not exist: cups-missing-filter-warning, its job stopped). `break_queues` sets them up again.
rp-02  its /run/cups is the folder of a second private cupsd that is stopped; the host var
       service_init_dir points at a test init script `cups` that starts that cupsd (restart_scheduler).
The machine's own CUPS (/etc/cups, /etc/init.d/cups) is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import rmmctl
from conftest import cli, require_fleet
from cups import ACME_MODEL, CupsServer, cups_missing
from fleet import FixtureSpec, Fleet

REPAIR = Path(rmmctl.__file__).parent / "data" / "playbooks" / "printer-repair.yaml"
QUIET = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}
QUEUES = ("rp-ok", "rp-paused", "rp-reject", "rp-stuck", "rp-nodriver")
INIT_SCRIPT = """\
#!/bin/sh
# A minimal init script for the test's second private cupsd (the real /etc/init.d/cups is never used).
pidfile={pidfile}
running() {{ [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         nohup /usr/sbin/cupsd -f -c {d}/etc/cupsd.conf -s {d}/etc/cups-files.conf </dev/null >/dev/null 2>&1 &
         echo $! > "$pidfile" ;;
  stop) if running; then kill "$(cat "$pidfile")"; fi; rm -f "$pidfile" ;;
  restart) "$0" stop; sleep 1; "$0" start ;;
  status) running && exit 0; exit 3 ;;
  *) exit 2 ;;
esac
"""


def _require_cups() -> None:
    reason = cups_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"private cupsd unavailable in CI: {reason}", pytrace=False)
    if reason:
        pytest.skip(f"private cupsd unavailable: {reason}")


class Rig:
    """The two cupsds, the fleet and its inventory."""

    def __init__(self, cups: CupsServer, down: CupsServer, fleet: Fleet, inv: Path, init_dir: Path) -> None:
        self.cups, self.down, self.fleet, self.inv, self.init_dir = cups, down, fleet, inv, init_dir
        self.pidfile = init_dir.parent / "cupsd2.pid"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    require_fleet()
    _require_cups()
    work = tmp_path_factory.mktemp("rp")
    down_dir = Path(tempfile.mkdtemp(prefix="rmmctl-cups-"))
    init_dir = work / "init.d"
    init_dir.mkdir()
    with CupsServer() as cups, CupsServer(down_dir) as down, Fleet(work / "fleet", prefix="rp") as fleet:
        cups.start()
        down.start()
        down.add_printer("rp2-paused", "file:/dev/null")
        down.run("cupsdisable", "-r", "Paused before the scheduler stopped", "rp2-paused")
        down.stop()  # its config and queues stay in down_dir: the init script starts it again
        pidfile = work / "cupsd2.pid"
        script = init_dir / "cups"
        script.write_text(INIT_SCRIPT.format(pidfile=pidfile, d=down_dir))
        script.chmod(0o755)
        rp01 = FixtureSpec(run={"cups/.keep": ""}, log={"cups/.keep": ""}, proc=QUIET,
                           binds={"/run/cups/cups.sock": str(cups.socket), "/var/log/cups": str(cups.log_dir)})
        rp02 = FixtureSpec(run={"cups/.keep": ""}, log={"cups/.keep": ""}, proc=QUIET,
                           binds={"/run/cups": str(down_dir), "/var/log/cups": str(down.log_dir)})
        fleet.start(2, {"rp-01": rp01, "rp-02": rp02})
        setup_queues(cups)
        inv = fleet.write_inventory(work / "inventory.yaml")
        doc = yaml.safe_load(inv.read_text())
        for name in ("rp-01", "rp-02"):  # never the machine's /etc/init.d/cups
            doc["hosts"][name]["vars"] = {"service_init_dir": str(init_dir)}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        rig = Rig(cups, down, fleet, inv, init_dir)
        try:
            yield rig
        finally:
            _kill_pidfile(pidfile)
            import shutil

            shutil.rmtree(down_dir, ignore_errors=True)


def _kill_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def setup_queues(cups: CupsServer) -> None:
    sleeper = cups.filters / "sleepforever"
    sleeper.write_text("#!/bin/sh\nexec sleep 600\n")
    sleeper.chmod(0o755)
    cups.add_printer("rp-ok", "file:/dev/null")
    cups.add_printer("rp-paused", "file:/dev/null")
    cups.add_printer("rp-reject", "file:/dev/null")
    cups.add_printer("rp-stuck", "file:/dev/null", cups.vendor_ppd("Sleepy Printer", str(sleeper), "sleepy"))
    cups.add_printer("rp-nodriver", "file:/dev/null", cups.vendor_ppd(ACME_MODEL, "rastertoacme", "acme-missing"))
    break_queues(cups)


def break_queues(cups: CupsServer) -> None:
    """The broken states again (after a repair): paused (with a held job), rejecting, a stuck job, a
    job stopped on the missing driver."""
    cups.run("cupsdisable", "-r", "Paused by technician for toner change", "rp-paused")
    cups.run("cupsreject", "-r", "Decommissioned, use rp-ok", "rp-reject")
    if not _held(cups):
        cups.submit("rp-paused", "-H", "hold", title="held")
    cups.submit("rp-stuck")
    cups.submit("rp-nodriver")
    cups.wait_for(["lpstat", "-l", "-o", "rp-stuck"], "rp-stuck-")
    time.sleep(1.1)  # every job at least a second old (cancel_stuck_jobs_older_than_minutes: 0 takes them)


def _held(cups: CupsServer) -> bool:
    return "rp-paused-" in cups.run("lpstat", "-o", "rp-paused", check=False)


def snapshot(cups: CupsServer) -> dict[str, str]:
    """The CUPS state a repair would change: printers.conf byte for byte, and what lpstat says."""
    return {"printers.conf": (cups.workdir / "etc" / "printers.conf").read_text(),
            "lpstat -l -p": cups.run("lpstat", "-l", "-p", check=False),
            "lpstat -a": cups.run("lpstat", "-a", check=False),
            "lpstat -o": cups.run("lpstat", "-o", check=False)}


def book(tmp_path: Path, args: dict[str, Any], name: str = "printer.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"hosts": "all", "tasks": [{"name": "printers", "printer": args}]},
                                   sort_keys=False))
    return path


def play(rig: Rig, playbook: Path, *args: str, host: str = "rp-01", inv: Path | None = None) -> dict[str, Any]:
    result = cli("play", str(playbook), host, *args, "-i", str(inv or rig.inv), "-o", "json")
    doc = json.loads(result.stdout)
    [h] = doc["hosts"]
    tasks = h["data"]["tasks"]
    return {"exit": result.exit_code, "host": h, **(tasks[-1] if tasks else {})}


REPAIR_ARGS = {"name": "all", "state": "enabled", "accept": True, "cancel_stuck_jobs_older_than_minutes": 0}


def _jobs(cups: CupsServer, queue: str) -> list[int]:
    return [int(line.split()[0].rsplit("-", 1)[1]) for line in cups.run("lpstat", "-o", queue, check=False).splitlines()
            if line.startswith(f"{queue}-")]


def test_check_mode_plans_each_action_and_leaves_cups_byte_for_byte_unchanged(
        rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    stuck, nodriver = _jobs(rig.cups, "rp-stuck"), _jobs(rig.cups, "rp-nodriver")
    assert stuck and nodriver
    before = snapshot(rig.cups)
    task = play(rig, book(tmp_path, REPAIR_ARGS), "--check")
    assert task["exit"] == 0 and task["status"] == "changed", task
    msg = task["message"]
    assert msg.startswith("would ") and "re-enable rp-paused" in msg and "accept on rp-reject" in msg
    assert f"cancel job {stuck[0]} on rp-stuck" in msg and f"cancel job {nodriver[0]} on rp-nodriver" in msg
    assert "would still be broken: rp-nodriver: driver filter rastertoacme is missing: cannot fix here, " \
           "install the driver" in msg
    actions = {(a["printer"], a["action"]) for a in task["data"]["actions"]}
    assert actions == {("rp-paused", "enable"), ("rp-reject", "accept"), ("rp-stuck", "cancel"),
                       ("rp-nodriver", "cancel")}
    assert [(r["printer"], r["check_id"]) for r in task["data"]["remaining"]] == \
        [("rp-nodriver", "printers.driver_missing")]
    assert task["data"]["check_mode"] is True
    assert snapshot(rig.cups) == before


def test_real_mode_fixes_paused_rejecting_stuck_reports_the_missing_driver_then_is_ok(
        rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    held = _jobs(rig.cups, "rp-paused")
    assert held
    playbook = book(tmp_path, REPAIR_ARGS)
    task = play(rig, playbook, "--yes")
    assert task["exit"] == 0 and task["status"] == "changed", task
    assert all(a["rc"] == 0 for a in task["data"]["actions"]), task["data"]["actions"]
    assert "re-enable rp-paused" in task["message"] and not task["message"].startswith("would")
    assert task["message"].endswith("still broken: rp-nodriver: driver filter rastertoacme is missing: "
                                    "cannot fix here, install the driver")
    status = rig.cups.run("lpstat", "-p", "rp-paused", "-a", "rp-reject")
    assert "printer rp-paused is idle" in status and "rp-reject accepting requests" in status
    assert _jobs(rig.cups, "rp-stuck") == [] and _jobs(rig.cups, "rp-nodriver") == []
    assert _jobs(rig.cups, "rp-paused") == held  # a held job is never cancelled
    [left] = task["data"]["remaining"]
    assert left["printer"] == "rp-nodriver" and left["check_id"] == "printers.driver_missing"

    again = play(rig, playbook, "--yes")
    assert again["exit"] == 0 and again["status"] == "ok", again
    assert again["data"]["actions"] == []
    assert again["message"] == ("still broken: rp-nodriver: driver filter rastertoacme is missing: cannot fix here, "
                                "install the driver")
    strict = play(rig, book(tmp_path, {**REPAIR_ARGS, "fail_on_remaining": True}, "strict.yaml"), "--yes")
    assert strict["exit"] == 5 and strict["status"] == "failed" and strict["message"] == again["message"]
    only_ok = play(rig, book(tmp_path, {**REPAIR_ARGS, "name": ["rp-ok", "rp-paused"], "fail_on_remaining": True},
                             "two.yaml"), "--yes")
    assert (only_ok["exit"], only_ok["status"], only_ok["message"]) == (0, "ok", "every selected printer is ready")


def _cancel(jobs: list[int]) -> str:
    return f"cancel job{'s' if len(jobs) > 1 else ''} {', '.join(map(str, jobs))}"


def test_printer_repair_playbook_end_to_end(rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    break_queues(rig.cups)
    before = snapshot(rig.cups)
    dry = play(rig, REPAIR, "--check", "-e", "printer_stuck_minutes=0")
    assert dry["exit"] == 5 and dry["status"] == "failed"  # the missing driver would remain: the exit says so
    stuck, nodriver = _jobs(rig.cups, "rp-stuck"), _jobs(rig.cups, "rp-nodriver")
    assert dry["message"].startswith(  # queues in lpstat's order, actions in their order per queue
        f"would {_cancel(nodriver)} on rp-nodriver, re-enable rp-paused, accept on rp-reject, "
        f"{_cancel(stuck)} on rp-stuck; would still be broken: rp-nodriver: "), dry
    assert snapshot(rig.cups) == before
    doc = yaml.safe_load(rig.inv.read_text())  # the host's own printer_stuck_minutes (the check's var) applies
    doc["known_hosts"] = str((rig.inv.parent / doc["known_hosts"]).resolve())
    doc["hosts"]["rp-01"]["vars"]["printer_stuck_minutes"] = 0
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = play(rig, REPAIR, "--yes", inv=inv)
    assert run["exit"] == 5 and run["status"] == "failed", run
    assert run["host"]["data"]["failed_task"]["name"] == "Repair the CUPS queues and report what is still broken"
    assert {a["printer"] for a in run["data"]["actions"]} == {"rp-paused", "rp-reject", "rp-stuck", "rp-nodriver"}
    assert "still broken: rp-nodriver: driver filter rastertoacme is missing" in run["message"]
    assert "printer rp-paused is idle" in rig.cups.run("lpstat", "-p", "rp-paused")
    assert _jobs(rig.cups, "rp-stuck") == []
    # the same playbook with the missing-driver queue left out: nothing left to do, nothing broken
    ok = play(rig, REPAIR, "--yes", "-e", "printer_stuck_minutes=0", "-e",
              'printer_names=rp-ok,rp-paused,rp-reject,rp-stuck')
    assert (ok["exit"], ok["status"], ok["message"]) == (0, "ok", "every selected printer is ready"), ok


def test_diagnose_fix_runs_printer_repair_and_only_the_missing_driver_remains(
        rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    break_queues(rig.cups)
    doc = yaml.safe_load(rig.inv.read_text())
    doc["known_hosts"] = str((rig.inv.parent / doc["known_hosts"]).resolve())
    doc["hosts"]["rp-01"]["vars"]["printer_stuck_minutes"] = 0  # the check and the playbook read it
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("diagnose", "rp-01", "-i", str(inv), "-c", "printers", "--fix", "--yes", "-o", "json")
    assert result.exit_code == 5, result.output  # the missing driver (critical) remains
    out = json.loads(result.stdout)
    [step] = out["plays"]
    assert step["playbook"] == "printer-repair" and step["ran"] and step["hosts"] == ["rp-01"]
    after = {(r["check_id"], r["after"]) for r in out["findings"]}
    assert {c for c, a in after if a is None} >= {"printers.paused", "printers.rejecting", "printers.stuck_queue"}
    assert {c for c, a in after if a is not None} == {"printers.driver_missing"}, out["findings"]
    assert "printer rp-paused is idle" in rig.cups.run("lpstat", "-p", "rp-paused")


def test_scheduler_down_is_started_through_the_init_script_then_its_queues_repaired(
        rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    assert "is running" not in rig.down.run("lpstat", "-r", check=False)
    playbook = book(tmp_path, {"restart_scheduler": "if_down", "state": "enabled"})
    dry = play(rig, playbook, "--check", host="rp-02")
    assert dry["status"] == "changed", dry
    assert dry["message"] == "would start the CUPS scheduler (cups); the queues are read once it runs (check mode)"
    assert "is running" not in rig.down.run("lpstat", "-r", check=False) and not rig.pidfile.exists()
    plain = play(rig, book(tmp_path, {"state": "enabled"}, "plain.yaml"), "--yes", host="rp-02")
    assert plain["status"] == "failed" and "the CUPS scheduler is not running" in plain["message"]
    try:
        run = play(rig, playbook, "--yes", host="rp-02")
        assert run["status"] == "changed", run
        assert run["message"] == "start the CUPS scheduler (cups), re-enable rp2-paused"
        assert [(a["action"], a["rc"]) for a in run["data"]["actions"]] == [("start", 0), ("enable", 0)]
        assert run["data"]["actions"][0]["command"].startswith("start cups (systemctl, else the init script)")
        assert run["data"]["scheduler"] == {"running": True, "started": True}
        assert "is running" in rig.down.run("lpstat", "-r", check=False)
        assert "printer rp2-paused is idle" in rig.down.run("lpstat", "-p", "rp2-paused")
        again = play(rig, playbook, "--yes", host="rp-02")
        assert (again["status"], again["message"]) == ("ok", "every selected printer is ready")
        first = int(rig.pidfile.read_text())
        restart = book(tmp_path, {"restart_scheduler": True}, "restart.yaml")
        dry_restart = play(rig, restart, "--check", host="rp-02")
        assert dry_restart["message"] == "would restart the CUPS scheduler (cups) (check mode)", dry_restart
        assert int(rig.pidfile.read_text()) == first
        restarted = play(rig, restart, "--yes", host="rp-02")
        assert (restarted["status"], restarted["message"]) == ("changed", "restart the CUPS scheduler (cups)"), restarted
        assert int(rig.pidfile.read_text()) != first and "is running" in rig.down.run("lpstat", "-r", check=False)
    finally:
        _kill_pidfile(rig.pidfile)
        rig.pidfile.unlink(missing_ok=True)


def test_templated_values_are_data_never_shell(rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    home = rig.fleet.home
    playbook = tmp_path / "evil.yaml"
    playbook.write_text("hosts: all\ntasks:\n  - printer: {name: \"{{ q }}\", state: enabled}\n")
    refused = play(rig, playbook, "--yes", "-e", f"q=$(touch {marks}/a)")
    assert refused["status"] == "failed" and refused["message"].startswith("printer.name: got"), refused
    for q in ("x$(touch${IFS}pwned)", "x;touch${IFS}pwned2", "`touch${IFS}pwned3`"):  # valid CUPS names
        task = play(rig, playbook, "--yes", "-e", f"q={q}")
        assert task["status"] == "failed" and task["message"].startswith(f"no such printer: {q} "), task
    for key in ("ppd", "driver"):
        other = tmp_path / f"{key}.yaml"
        other.write_text(f"hosts: all\ntasks:\n  - printer: {{name: rp-ok, {key}: \"{{{{ v }}}}\"}}\n")
        task = play(rig, other, "--yes", "-e", f"v=$(touch {marks}/{key})")
        assert task["status"] == "failed" and task["message"].startswith(f"{key} $(touch"), task
    # a reason reaches cupsdisable as one word: the queue shows it literally
    reason = tmp_path / "reason.yaml"
    reason.write_text("hosts: all\ntasks:\n  - printer: {name: rp-ok, state: disabled, reason: \"{{ v }}\"}\n")
    try:
        task = play(rig, reason, "--yes", "-e", f"v=$(touch {marks}/r) `touch {marks}/r2`")
        assert task["status"] == "changed", task
        assert f"$(touch {marks}/r) `touch {marks}/r2`" in rig.cups.run("lpstat", "-p", "rp-ok")
    finally:
        rig.cups.run("cupsenable", "rp-ok")
    assert not list(marks.iterdir()) and not list(home.glob("pwned*"))


def test_bad_arguments_stop_the_play_before_it_runs(rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    for args, expected in (
            ({"restart_scheduler": "sometimes"}, "restart_scheduler: got 'sometimes'"),
            ({"name": "rp-ok", "ppd": "/x.ppd", "driver": "raw"}, "give ppd or driver, not both"),
            ({"driver": "raw"}, "would set one driver on every queue"),
            ({"name": ["all", "rp-ok"], "state": "enabled"}, "all together with other names"),
            ({"name": "rp-ok"}, "nothing to do"),
            ({"cancel_stuck_jobs_older_than_minutes": -1}, "expected 0 or more minutes")):
        result = cli("play", str(book(tmp_path, args)), "--check", "-i", str(rig.inv))
        assert result.exit_code == 3 and expected in result.output, (args, result.output)


def _audit(run_host: str) -> list[str]:
    """The host's audited execs, oldest first."""
    result = cli("history", "audit", "--host", run_host, "-n", "50", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = sorted(json.loads(result.stdout)["audit"], key=lambda r: r["id"])
    return [r["detail"] for r in rows]


def test_a_ppd_fixes_the_missing_driver_in_two_execs_then_is_ok(rig: Rig, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    generic = rig.cups.generic_ppd()
    playbook = book(tmp_path, {"name": "rp-nodriver", "ppd": str(generic), "fail_on_remaining": True})
    dry = play(rig, playbook, "--check")
    assert dry["status"] == "changed", dry
    assert dry["message"] == f"would set the PPD of rp-nodriver to {generic} (check mode)"
    run = play(rig, playbook, "--yes")
    assert run["status"] == "changed", run
    assert run["message"] == f"set the PPD of rp-nodriver to {generic}"  # nothing left: old log lines do not count
    assert "Generic PostScript Printer" in rig.cups.run("lpoptions", "-p", "rp-nodriver")
    again = play(rig, playbook, "--yes")
    assert (again["status"], again["message"]) == ("ok", "every selected printer is ready")
    # check: one exec; run: read, then act + read again; the second run: read only
    assert _audit("rp-01")[-4:] == ["printer: read the CUPS state", "printer: read the CUPS state",
                                    f"printer: lpadmin -p rp-nodriver -P {generic}; read the CUPS state",
                                    "printer: read the CUPS state"]


def test_a_failing_action_fails_the_task_with_its_output(rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    bogus = rig.cups.workdir / "bogus.ppd"  # a NickName but no PPD header: lpadmin refuses it
    bogus.write_text('*NickName: "Bogus Printer"\n')
    task = play(rig, book(tmp_path, {"name": "rp-ok", "ppd": str(bogus)}), "--yes")
    assert task["exit"] == 5 and task["status"] == "failed", task
    assert task["message"].startswith(f"set the PPD of rp-ok to {bogus}: rc=1: lpadmin: Unable to open PPD"), task
    [action] = task["data"]["actions"]
    assert action["rc"] == 1 and "deprecated" not in action["output"]
    assert "Bogus" not in rig.cups.run("lpoptions", "-p", "rp-ok")


def test_a_driver_model_from_lpinfo(rig: Rig, env: dict[str, str], tmp_path: Path) -> None:
    playbook = book(tmp_path, {"name": ["rp-ok", "rp-reject"], "driver": "raw"})
    run = play(rig, playbook, "--yes")
    assert run["status"] == "changed" and run["message"].startswith("set the driver of rp-ok to raw, set the driver "
                                                                    "of rp-reject to raw"), run
    assert play(rig, playbook, "--yes")["status"] == "ok"
    generic = book(tmp_path, {"name": "rp-ok", "driver": "drv:///sample.drv/generic.ppd"}, "generic.yaml")
    run = play(rig, generic, "--yes")
    assert run["status"] == "changed" and "Generic PostScript Printer" in rig.cups.run("lpoptions", "-p", "rp-ok")
    assert play(rig, generic, "--yes")["status"] == "ok"
    missing = book(tmp_path, {"name": "rp-ok", "driver": "drv:///nope.drv/x.ppd"}, "missing.yaml")
    task = play(rig, missing, "--check")
    assert task["status"] == "failed" and "not a model this host offers" in task["message"]
