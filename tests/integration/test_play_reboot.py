"""The `reboot` module on real sshd hosts of a fleet of its own.

Stand-in, and why: a test may not reboot this machine. The module's own documented arguments
(Ansible's `reboot_command` and `boot_time_command`) point it at a real script on the host that does to
the SSH client what a reboot does: it cuts every session of that host (every process in the host's
namespace), leaves it unreachable for a while (no sshd listening: connection refused), writes a new
boot id into a file and starts sshd again (or, for the host that "never comes back", does not). So the
module really loses its connection, really reconnects (HostContext.reconnect) and really waits for the
new boot id within its deadline. /run/reboot-required is a real file on the host's own tmpfs /run (a
fleet fixture) that the probe's reboot section reads for `only_if_required`; the script removes it, as
a boot empties /run. The machine's /run, its boot id and its shutdown command are never touched.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import cli, require_fleet
from fleet import Fleet, FixtureSpec

FAKE_REBOOT = r"""#!/bin/sh
# A stand-in for `shutdown -r now` on a fleet host: BOOTID_FILE LISTENER_PID SSHD_CONFIG NEWPID_FILE DOWN_S BACK
# Detached: it returns at once, as shutdown does; then it cuts the host's sessions, waits DOWN_S seconds,
# writes a new boot id and (BACK=1) starts sshd again.
setsid sh -c '
  sleep 0.3
  me=$(readlink /proc/$$/ns/uts)
  [ -n "$me" ] && [ "$me" != "$(readlink /proc/1/ns/uts)" ] || exit 1  # only ever inside a fleet host
  kill "$2"
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    [ "$(readlink "$d/ns/uts" 2>/dev/null)" = "$me" ] && kill -9 "$p" 2>/dev/null
  done
  rm -f /run/reboot-required /run/reboot-required.pkgs
  sleep "$5"
  cat /proc/sys/kernel/random/uuid > "$1"
  [ "$6" = 1 ] || exit 0
  /usr/sbin/sshd -D -e -f "$3" </dev/null >/dev/null 2>&1 &
  echo $! > "$4"
' sh "$@" </dev/null >/dev/null 2>&1 &
"""

PLAY = """\
hosts: all
tasks:
  - name: reboot when needed
    reboot:
      only_if_required: "{{ only_if_required }}"
      reboot_timeout: "{{ deadline }}"
      reboot_command: "{{ fake }} {{ bootid }} {{ listener }} {{ cfg }} {{ newpid }} 1.5 {{ back }}"
      boot_time_command: "cat {{ bootid }}"
    register: rb
  - name: the play goes on over the new connection
    command: cat {{ bootid }}
"""


@pytest.fixture
def rfleet(tmp_path: Path) -> Iterator[Fleet]:
    """Two hosts of their own (this test kills their sshd): rb-01 needs a reboot, rb-02 does not."""
    require_fleet()
    spec = FixtureSpec(run={"reboot-required": "*** System restart required ***\n",
                            "reboot-required.pkgs": "linux-image-6.1.0-99-amd64\n"})
    fleet = Fleet(tmp_path / "rfleet", prefix="rb")
    fleet.start(2, {"rb-01": spec, "rb-02": FixtureSpec(run={"motd": "x\n"})})
    try:
        yield fleet
    finally:
        fleet.stop()
        for pidfile in (tmp_path / "rfleet").glob("*/newpid"):  # the sshd each fake reboot started, by its PID
            _stop(int(pidfile.read_text().strip()))


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _inventory(fleet: Fleet, tmp_path: Path, fake: Path) -> Path:
    inv = fleet.write_inventory(tmp_path / "inv.yaml")
    doc = yaml.safe_load(inv.read_text())
    for i, (h, pid) in enumerate(zip(fleet.hosts, fleet.sshd_pids()), 1):
        (h.workdir / "bootid").write_text(f"boot-{h.name}-1\n")
        doc["hosts"][h.name]["vars"] = {"fake": str(fake), "bootid": str(h.workdir / "bootid"), "listener": pid,
                                        "cfg": str(h.workdir / "sshd_config"), "newpid": str(h.workdir / "newpid"),
                                        "back": 1 if i == 1 else 0, "deadline": 40 if i == 1 else 4,
                                        "only_if_required": i == 1}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def _tasks(result: Any) -> dict[str, list[dict[str, Any]]]:
    return {h["name"]: h["data"].get("tasks", []) for h in json.loads(result.stdout)["hosts"]}


def test_reboot_waits_for_a_new_boot_id_and_fails_at_the_deadline(rfleet: Fleet, env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    fake = tmp_path / "fake-reboot"
    fake.write_text(FAKE_REBOOT)
    fake.chmod(0o755)
    inv = _inventory(rfleet, tmp_path, fake)
    book = tmp_path / "reboot.yaml"
    book.write_text(PLAY)
    one, two = rfleet.hosts
    listeners = rfleet.sshd_pids()
    flag = Path(f"/proc/{listeners[0]}/root/run/reboot-required")  # rb-01's own /run, seen from here
    assert flag.exists()

    dry = cli("play", str(book), "-i", str(inv), "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    planned = _tasks(dry)
    assert planned["rb-01"][0]["status"] == "changed"
    assert planned["rb-01"][0]["message"] == ("would reboot: /run/reboot-required says so "
                                              "(linux-image-6.1.0-99-amd64) (check mode)")
    assert planned["rb-02"][0]["message"] == "would reboot: reboot requested (check mode)"
    assert all(_alive(p) for p in listeners) and flag.exists()  # nothing happened
    assert (one.workdir / "bootid").read_text() == "boot-rb-01-1\n" and not (one.workdir / "newpid").exists()

    run = cli("play", str(book), "-i", str(inv), "--yes", "-o", "json")
    assert run.exit_code == 5, run.output  # rb-02 never came back
    tasks = _tasks(run)
    first = tasks["rb-01"][0]
    new_id = (one.workdir / "bootid").read_text().strip()
    assert first["status"] == "changed", first
    assert first["data"]["rebooted"] is True and first["data"]["boot_id_before"] == "boot-rb-01-1"
    assert first["data"]["boot_id_after"] == new_id != "boot-rb-01-1"
    assert first["message"].startswith("rebooted in ") and first["data"]["elapsed"] >= 1  # it was down 1.5 s
    assert tasks["rb-01"][1]["data"]["stdout"].strip() == new_id  # the next task ran on the new connection
    assert not _alive(listeners[0]) and not flag.exists()
    audit = json.loads(cli("history", "audit", "--host", "rb-01", "-n", "200", "-o", "json").stdout)["audit"]
    reconnects = [e for e in audit if e["action"] == "connect" and e["detail"] == "reconnect"]
    assert len(reconnects) >= 2 and reconnects[0]["exit_code"] == 0  # each try is audited; the last one worked
    assert any(e["exit_code"] is None for e in reconnects)  # and the ones refused while the host was down

    down = tasks["rb-02"][0]
    assert down["status"] == "failed" and len(tasks["rb-02"]) == 1
    assert down["message"].startswith("the host did not come back with a new boot id within 4 s (reboot_timeout); "
                                      "last: "), down
    assert "\n" not in down["message"] and 3 <= down["data"]["elapsed"] <= 12  # 4 s, give or take a try under load

    again = cli("play", str(book), "-i", str(inv), "rb-01", "--yes", "-o", "json")
    assert again.exit_code == 0, again.output
    settled = _tasks(again)["rb-01"][0]
    assert settled["status"] == "ok" and settled["message"] == "no reboot required (/run/reboot-required)"
    assert (one.workdir / "bootid").read_text().strip() == new_id  # no second reboot


def test_reboot_commands_are_words_not_shell(rfleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    inv = rfleet.write_inventory(tmp_path / "inv.yaml", [1])
    book = tmp_path / "evil.yaml"
    book.write_text("""\
hosts: all
tasks:
  - reboot:
      reboot_command: "true {{ evil }}"
      boot_time_command: "cat {{ evil }}"
      test_command: "true {{ evil }}"
      msg: "{{ evil }}"
""")
    evil = f"$(touch {marks}/a) `touch {marks}/b`;touch {marks}/c"
    result = cli("play", str(book), "-i", str(inv), "--yes", "-e", f"evil={evil}", "-o", "json")
    assert result.exit_code == 5, result.output
    task = _tasks(result)["rb-01"][0]
    assert task["status"] == "failed" and task["message"].startswith(
        "cannot read the boot id before rebooting: boot_time_command: cat: "), task  # cat got the words as files
    assert not list(marks.iterdir()) and _alive(rfleet.sshd_pids()[0])


def test_shipped_reboot_if_required_plans_and_keeps_the_window(rfleet: Fleet, env: dict[str, str],
                                                               tmp_path: Path) -> None:
    """Check mode only: the shipped playbook uses the real shutdown command, which no test may run."""
    book = Path(__file__).resolve().parents[2] / "src" / "rmmctl" / "data" / "playbooks" / "reboot-if-required.yaml"
    inv = rfleet.write_inventory(tmp_path / "inv.yaml", extra={"groups": {"linux": {"os": "linux"}}})
    doc = yaml.safe_load(inv.read_text())
    for host in doc["hosts"].values():
        host["groups"] = ["linux"]  # the shipped playbooks target `hosts: linux`
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    dry = cli("play", str(book), "-i", str(inv), "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    tasks = _tasks(dry)
    assert tasks["rb-01"][0]["message"] == ("would reboot: /run/reboot-required says so "
                                            "(linux-image-6.1.0-99-amd64) (check mode)")
    assert tasks["rb-02"][0]["status"] == "ok" and tasks["rb-02"][0]["message"] == (
        "no reboot required (/run/reboot-required)")
    # Outside the maintenance window: the var that the engine sets (a host var until it does).
    doc = yaml.safe_load(inv.read_text())
    shut = time.gmtime(time.time() + 12 * 3600)
    doc["hosts"]["rb-01"]["vars"] = {"maintenance_window_open": False, "timezone": "UTC",
                                     "maintenance_window": time.strftime("%a %H:00-%H:01", shut)}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    closed = cli("play", str(book), "-i", str(inv), "rb-01", "--check", "-o", "json")
    assert closed.exit_code == 0, closed.output
    assert all(t["status"] == "skipped" for t in _tasks(closed)["rb-01"])
    assert all(_alive(p) for p in rfleet.sshd_pids())


def test_shipped_os_updates_plans_updates_and_the_reboot_then_upgrades(rfleet: Fleet, env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    """os-updates.yaml against real apt in an isolated root (tests/aptlab.py) on both hosts. Check mode: the
    upgrade plan with versions and the reboot only where /run/reboot-required says so, nothing changed.
    A real run upgrades with `reboot_after_updates: false` (the shipped reboot step would run the real
    shutdown command, which no test may run): the reboot step is skipped by its condition, as it is outside
    the window."""
    from aptlab import AptLab

    lab = AptLab(tmp_path / "apt")
    lab.install(lab.deb("rmmtest-a", "1.0"), lab.deb("rmmtest-b", "1.0"))
    lab.publish("lab", lab.deb("rmmtest-a", "1.1"))
    lab.publish("lab-security", lab.deb("rmmtest-b", "1.1"))
    lab.apt("update")
    book = Path(__file__).resolve().parents[2] / "src" / "rmmctl" / "data" / "playbooks" / "os-updates.yaml"
    inv = rfleet.write_inventory(tmp_path / "inv.yaml", extra={"defaults": {"vars": {"apt_config": str(lab.apt_conf)}}})
    before = lab.snapshot()
    dry = cli("play", str(book), "-i", str(inv), "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    tasks = _tasks(dry)
    for name in ("rb-01", "rb-02"):
        assert [(p["name"], p["from"], p["to"]) for p in tasks[name][0]["data"]["packages"]] == [
            ("rmmtest-a", "1.0", "1.1"), ("rmmtest-b", "1.0", "1.1")], tasks[name]
    assert tasks["rb-01"][1]["message"] == ("would reboot: /run/reboot-required says so "
                                            "(linux-image-6.1.0-99-amd64) (check mode)")
    assert tasks["rb-02"][1]["message"] == "no reboot required (/run/reboot-required)"
    assert lab.snapshot() == before and all(_alive(p) for p in rfleet.sshd_pids())
    run = cli("play", str(book), "-i", str(inv), "rb-02", "-e", "reboot_after_updates=false", "--yes", "-o", "json")
    assert run.exit_code == 0, run.output
    done = _tasks(run)["rb-02"]
    assert done[0]["message"] == "upgraded 2 packages: rmmtest-a 1.0 -> 1.1, rmmtest-b 1.0 -> 1.1", done
    assert done[1]["status"] == "skipped"
    assert lab.versions() == {"rmmtest-a": "1.1", "rmmtest-b": "1.1"}
    assert all(_alive(p) for p in rfleet.sshd_pids())


NEEDS_RESTARTING = """#!/bin/sh
# needs-restarting -r as dnf-utils prints it when the kernel was updated (exit 1: a reboot is required)
[ "$1" = -r ] || exit 2
echo 'Core libraries or services have been updated since boot-up:'
echo '  * kernel'
echo '  * systemd'
echo
echo 'Reboot is required to fully utilize these updates.'
echo 'More information: https://access.redhat.com/solutions/27943'
exit 1
"""


def test_only_if_required_asks_needs_restarting_on_rhel_likes(env: dict[str, str], tmp_path: Path) -> None:
    """A RHEL-like host, as far as the probe can tell: no dpkg database (an empty folder bind-mounted over
    /var/lib in that host's namespace only) and dnf-utils' `needs-restarting` (a real script on its
    PATH printing what dnf-utils prints). Check mode only: nothing reboots."""
    require_fleet()
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = FixtureSpec(bin={"needs-restarting": NEEDS_RESTARTING}, run={"motd": "x\n"},
                       binds={"/var/lib": str(empty)})
    with Fleet(tmp_path / "rhel", prefix="rh") as rhel:
        rhel.start(1, {"rh-01": spec})
        inv = rhel.write_inventory(tmp_path / "inv.yaml")
        book = tmp_path / "rb.yaml"
        book.write_text("hosts: all\ntasks:\n  - reboot: {only_if_required: true, reboot_command: 'false'}\n")
        dry = cli("play", str(book), "-i", str(inv), "--check", "-o", "json")
        assert dry.exit_code == 0, dry.output
        task = _tasks(dry)["rh-01"][0]
        assert task["message"] == "would reboot: needs-restarting -r says so (kernel, systemd) (check mode)", task
        assert task["data"]["packages"] == ["kernel", "systemd"] and _alive(rhel.sshd_pids()[0])
