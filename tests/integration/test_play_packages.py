"""The `package_update` module on the real sshd fleet with REAL apt-get and dpkg against an isolated root
(tests/aptlab.py: tiny .deb packages, a private dpkg database, a local `file:` repository with a `lab`
and a `lab-security` suite), pointed at through the documented `apt_config` host var. Nothing here
touches the machine's own packages (its dpkg status is hashed before and after) or the network.

Check mode plans with versions and changes nothing (every file of the root hashed); security_only
upgrades only the -security package; a second run is ok; exclude keeps a package and refuses when a
dependency would pull it in; a held dpkg lock is one failed line naming its holder; a non-root user
without become gets a clear failed line; a var holding `$(touch ...)` in exclude or apt_options does
not run.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rmmctl
import yaml

from aptlab import AptLab, missing_tools
from fleet import Fleet
from rmmctl.executor import HostContext
from rmmctl.inventory.model import Host
from rmmctl.models import CommandResult
from rmmctl.playbooks.modules import ModuleCall, lookup, normalize_args
from rmmctl.transports import TransportOptions
from rmmctl.transports.local import LocalTransport
from test_play import doc, play
from test_play import setup as play_setup

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}")
REAL_STATUS = Path("/var/lib/dpkg/status")


def real_status() -> str:
    return hashlib.sha256(REAL_STATUS.read_bytes()).hexdigest() if REAL_STATUS.exists() else ""


@pytest.fixture
def lab(tmp_path: Path) -> AptLab:
    """a, b, c installed at 1.0; a 1.1 and c 2.0 (needs a >= 1.1) in `lab`, b 1.1 in `lab-security`."""
    lab = AptLab(tmp_path / "apt")
    lab.install(lab.deb("rmmtest-a", "1.0"), lab.deb("rmmtest-b", "1.0"), lab.deb("rmmtest-c", "1.0"))
    lab.publish("lab", lab.deb("rmmtest-a", "1.1"), lab.deb("rmmtest-c", "2.0", depends="rmmtest-a (>= 1.1)"))
    lab.publish("lab-security", lab.deb("rmmtest-b", "1.1"))
    lab.apt("update")
    return lab


def setup(fleet: Fleet, tmp_path: Path, text: str, hosts: list[int], **host_vars: object) -> tuple[Path, Path]:
    """The inventory (every host in group linux, as the shipped playbooks want) with these vars, and the playbook."""
    inv, pb = play_setup(fleet, tmp_path, text, hosts=hosts)
    inventory = yaml.safe_load(inv.read_text())
    inventory["groups"] = {"linux": {}}
    for entry in inventory["hosts"].values():
        entry["groups"] = ["linux"]
        if host_vars:
            entry.setdefault("vars", {}).update(host_vars)
    inv.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return inv, pb


def book(args: str) -> str:
    return f"""\
hosts: all
tasks:
  - name: updates
    package_update: {args}
    register: up
  - command: echo "{{{{ up.data.packages | length }}}} packages"
    when: up.changed
"""


def test_check_plans_security_run_upgrades_then_settles(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                       lab: AptLab) -> None:
    inv, pb = setup(fleet, tmp_path, book("{security_only: true}"), hosts=[1], apt_config=str(lab.apt_conf))
    before, status = lab.snapshot(), real_status()
    dry = play(inv, pb, "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    task = doc(dry)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "changed", task
    assert task["message"] == ("would upgrade 1 package: rmmtest-b 1.0 -> 1.1 "
                               "(check mode; lists not refreshed in check mode)")
    assert task["data"]["packages"] == [{"name": "rmmtest-b", "from": "1.0", "to": "1.1", "security": True}]
    assert lab.snapshot() == before and real_status() == status  # every file of the root, and the machine's
    everything = setup(fleet, tmp_path, book("{}"), hosts=[1], apt_config=str(lab.apt_conf))
    planned = doc(play(*everything, "--check", "-o", "json"))["fleet-01"]["data"]["tasks"][0]["data"]["packages"]
    assert [(p["name"], p["from"], p["to"]) for p in planned] == [
        ("rmmtest-a", "1.0", "1.1"), ("rmmtest-b", "1.0", "1.1"), ("rmmtest-c", "1.0", "2.0")]
    assert lab.snapshot() == before

    inv, pb = setup(fleet, tmp_path, book("{security_only: true}"), hosts=[1], apt_config=str(lab.apt_conf))
    run = play(inv, pb, "--yes", "-o", "json")
    assert run.exit_code == 0, run.output
    tasks = doc(run)["fleet-01"]["data"]["tasks"]
    assert tasks[0]["status"] == "changed" and tasks[0]["message"] == "upgraded 1 package: rmmtest-b 1.0 -> 1.1"
    assert tasks[0]["data"]["packages"] == [{"name": "rmmtest-b", "from": "1.0", "to": "1.1", "security": True}]
    assert tasks[1]["data"]["stdout"].strip() == "1 packages"
    assert lab.versions() == {"rmmtest-a": "1.0", "rmmtest-b": "1.1", "rmmtest-c": "1.0"}
    assert (lab.root / "usr/share/doc/rmmtest-b/VERSION").read_text() == "rmmtest-b 1.1\n"
    again = doc(play(inv, pb, "--yes", "-o", "json"))["fleet-01"]["data"]["tasks"][0]
    assert again["status"] == "ok" and again["message"] == "nothing to upgrade (apt; security only)", again
    assert real_status() == status


def test_all_with_exclude_and_a_dependency_on_an_excluded_package(fleet: Fleet, env: dict[str, str],
                                                                 tmp_path: Path, lab: AptLab) -> None:
    inv, pb = setup(fleet, tmp_path, book("{exclude: [rmmtest-a]}"), hosts=[1], apt_config=str(lab.apt_conf))
    before = lab.snapshot()
    planned = play(inv, pb, "--check", "-o", "json")  # the plan simulates the exact command: it fails too
    assert planned.exit_code == 5 and "would be upgraded as a dependency" in planned.output, planned.output
    assert lab.snapshot() == before
    refused = play(inv, pb, "--yes", "-o", "json")
    assert refused.exit_code == 5, refused.output
    task = doc(refused)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "failed"
    assert task["message"] == ("package_update: excluded package(s) rmmtest-a would be upgraded as a dependency of "
                               "the others; nothing upgraded (widen exclude or upgrade them)")
    assert lab.versions() == {"rmmtest-a": "1.0", "rmmtest-b": "1.0", "rmmtest-c": "1.0"}

    subprocess.run(["apt-mark", "auto", "rmmtest-a"], env={**os.environ, "APT_CONFIG": str(lab.apt_conf)},
                   check=True, capture_output=True)  # a dependency: upgrading it must not make it "manual"
    inv, pb = setup(fleet, tmp_path, book("{exclude: ['rmmtest-c*'], refresh: false}"), hosts=[1],
                    apt_config=str(lab.apt_conf))
    run = doc(play(inv, pb, "--yes", "-o", "json"))["fleet-01"]["data"]["tasks"][0]
    assert run["message"] == "upgraded 2 packages: rmmtest-a 1.0 -> 1.1, rmmtest-b 1.0 -> 1.1", run
    assert run["data"]["excluded"] == ["rmmtest-c"]
    assert lab.versions() == {"rmmtest-a": "1.1", "rmmtest-b": "1.1", "rmmtest-c": "1.0"}
    auto = subprocess.run(["apt-mark", "showauto"], env={**os.environ, "APT_CONFIG": str(lab.apt_conf)},
                          capture_output=True, text=True, check=True).stdout.split()
    assert auto == ["rmmtest-a"]


def test_held_dpkg_lock_is_one_line_naming_the_holder(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                      lab: AptLab) -> None:
    lock = lab.root / "var/lib/dpkg/lock-frontend"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o640); fcntl.lockf(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        inv, pb = setup(fleet, tmp_path, book("{refresh: false}"), hosts=[1], apt_config=str(lab.apt_conf))
        result = play(inv, pb, "--yes", "-o", "json")
        assert result.exit_code == 5, result.output
        task = doc(result)["fleet-01"]["data"]["tasks"][0]
        assert task["message"] == (f"package_update: package manager locked: {lock} is held by process "
                                   f"{holder.pid} (python3); nothing upgraded"), task
    finally:
        holder.communicate("")
    assert lab.versions()["rmmtest-a"] == "1.0"


def test_injection_in_exclude_and_apt_options_stays_data(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                        lab: AptLab) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    text = book("{exclude: ['$(touch " + str(marks) + "/x)', '`touch " + str(marks) + "/y`;touch z', '{{ mark }}']}")
    inv, pb = setup(fleet, tmp_path, text, hosts=[1], apt_config=str(lab.apt_conf),
                    apt_options=[f"Acquire::Languages=none$(touch {marks}/o)"])
    before = lab.snapshot()
    dry = play(inv, pb, "--check", "-e", f"mark=$(touch {marks}/e)", "-o", "json")
    assert dry.exit_code == 0, dry.output
    assert doc(dry)["fleet-01"]["data"]["tasks"][0]["data"]["packages"][0]["name"] == "rmmtest-a"
    assert lab.snapshot() == before
    run = play(inv, pb, "--yes", "-e", f"mark=$(touch {marks}/e)", "-o", "json")
    assert run.exit_code == 0, run.output
    assert list(marks.iterdir()) == [] and not (Path.home() / "z").exists()


class _AsNobody(HostContext):
    """The local machine seen through a non-root login: every command runs as nobody (setpriv)."""

    def run(self, command: str, **kwargs: object) -> CommandResult:  # type: ignore[override]
        kwargs.pop("become", None)
        return super().run(f"setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c {shlex.quote(command)}",
                           **kwargs)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_non_root_user_without_become_gets_one_clear_line(lab: AptLab) -> None:
    host = Host("box", "127.0.0.1", connection="local", vars={"apt_config": str(lab.apt_conf)})
    options = TransportOptions()
    ctx = _AsNobody(host, LocalTransport(host, options, deadline=None), None, options.redactor)
    spec = lookup("posix", "package_update")
    assert spec is not None
    before = lab.snapshot()
    result = spec.run(ModuleCall(ctx, normalize_args(spec, {}, templated=True)))
    assert result.status == "failed"
    assert result.msg == ("package_update: needs root to change packages: connect as root or set "
                          "`become: true` (the connection user is nobody)")
    assert lab.snapshot() == before


SHIPPED = Path(rmmctl.__file__).parent / "data" / "playbooks"


def test_security_updates_playbook_against_the_lab(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                   lab: AptLab) -> None:
    inv = setup(fleet, tmp_path, "", hosts=[1, 2], apt_config=str(lab.apt_conf))[0]
    pb = SHIPPED / "security-updates.yaml"
    before = lab.snapshot()
    dry = play(inv, pb, "fleet-01", "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    assert doc(dry)["fleet-01"]["data"]["tasks"][0]["data"]["packages"] == [
        {"name": "rmmtest-b", "from": "1.0", "to": "1.1", "security": True}]
    assert lab.snapshot() == before
    run = play(inv, pb, "fleet-01", "--yes", "-o", "json")
    assert run.exit_code == 0, run.output
    assert doc(run)["fleet-01"]["data"]["tasks"][0]["message"] == "upgraded 1 package: rmmtest-b 1.0 -> 1.1"
    assert lab.versions() == {"rmmtest-a": "1.0", "rmmtest-b": "1.1", "rmmtest-c": "1.0"}


def _machine_state() -> dict[str, object]:
    """What a check-mode apt run could touch on this machine: dpkg status, apt lists, caches, logs."""
    out: dict[str, object] = {"status": real_status()}
    for folder in (Path("/var/lib/apt/lists"), Path("/var/cache/apt"), Path("/var/log/apt"), Path("/var/lib/dpkg")):
        if folder.is_dir():
            out[str(folder)] = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()
                                      if p.is_file())
    return out


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")
def test_security_updates_check_mode_on_the_real_machine_changes_nothing(fleet: Fleet, env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    """The machine's own apt (its real lists, nothing isolated): a plan with versions, nothing changed."""
    inv = setup(fleet, tmp_path, "", hosts=[1])[0]
    before = _machine_state()
    dry = play(inv, SHIPPED / "security-updates.yaml", "--check", "-o", "json")
    assert dry.exit_code == 0, dry.output
    task = doc(dry)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] in ("ok", "changed") and task["data"]["manager"] == "apt", task
    assert task["message"].startswith(("would upgrade", "nothing to upgrade")) and "check mode" in task["message"]
    assert all(p["security"] and p["to"] for p in task["data"]["packages"])
    assert _machine_state() == before


def test_a_task_timeout_is_one_failed_line(fleet: Fleet, env: dict[str, str], tmp_path: Path, lab: AptLab) -> None:
    text = "hosts: all\ntasks:\n  - package_update: {}\n    timeout: 0.01\n"
    inv, pb = setup(fleet, tmp_path, text, hosts=[1], apt_config=str(lab.apt_conf))
    result = play(inv, pb, "--yes", "-o", "json")
    task = doc(result)["fleet-01"]["data"]["tasks"][0]
    assert task["status"] == "failed" and task["message"].startswith(
        "package_update: package_update plan timed out after 0.01 s"), task


class _WithPath(HostContext):
    """The local machine with only the given folder on PATH (no apt-get there: the dnf branch runs)."""

    path = ""

    def run(self, command: str, **kwargs: object) -> CommandResult:  # type: ignore[override]
        kwargs.pop("become", None)
        return super().run(f"PATH={shlex.quote(self.path)}; export PATH; {command}", **kwargs)


_RPM_BEFORE = "kernel.x86_64\t0:5.14.0-362.8.1.el9_3\nopenssl.x86_64\t1:3.0.7-24.el9\ntzdata.noarch\t0:2023c-1.el9\n"
_RPM_AFTER = "kernel.x86_64\t0:5.14.0-362.8.1.el9_3\nopenssl.x86_64\t1:3.0.7-27.el9\ntzdata.noarch\t0:2023c-1.el9\n"


def test_the_dnf_branch_with_stand_in_dnf_and_rpm(tmp_path: Path) -> None:
    """STAND-IN: dnf and rpm cannot run on this Debian machine, so POSIX sh shims on PATH stand in for them,
    printing dnf's check-update format (the probe's fixture rows) and rpm's --qf rows, and logging their
    arguments. It proves the dnf flow end to end (detection, filters passed as quoted words, exit 100 read
    as "updates", rpm before/after diffed into name/from/to), not dnf's own behaviour."""
    bin_dir, log, state = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "upgraded"
    bin_dir.mkdir()
    for tool in ("sh", "id", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    (bin_dir / "dnf").write_text(f"""#!/bin/sh
printf '%s\\n' "dnf $*" >> {log}
case " $* " in
  *" check-update "*) printf '\\nopenssl.x86_64   1:3.0.7-27.el9   baseos\\n'; exit 100;;
  *" upgrade "*) : > {state}; echo 'Upgraded: openssl-1:3.0.7-27.el9.x86_64'; exit 0;;
esac
exit 0
""")
    (bin_dir / "rpm").write_text(f"""#!/bin/sh
if [ -e {state} ]; then printf '{_RPM_AFTER}'; else printf '{_RPM_BEFORE}'; fi
""")
    (bin_dir / "dnf").chmod(0o755)
    (bin_dir / "rpm").chmod(0o755)
    host = Host("rhel", "127.0.0.1", connection="local")
    options = TransportOptions()
    ctx = _WithPath(host, LocalTransport(host, options, deadline=None), None, options.redactor)
    ctx.path = str(bin_dir)
    spec = lookup("posix", "package_update")
    assert spec is not None
    args = normalize_args(spec, {"security_only": True, "exclude": ["kernel*", "$(touch x)"]}, templated=True)
    planned = spec.run(ModuleCall(ctx, args, check=True))
    assert planned.status == "changed", planned
    assert planned.msg == "would upgrade 1 package: openssl.x86_64 1:3.0.7-24.el9 -> 1:3.0.7-27.el9 (check mode; " \
                          "lists not refreshed in check mode)"
    assert not state.exists()
    done = spec.run(ModuleCall(ctx, args))
    assert done.status == "changed" and done.msg == "upgraded 1 package: openssl.x86_64 1:3.0.7-24.el9 -> 1:3.0.7-27.el9"
    assert done.data["manager"] == "dnf" and done.data["packages"][0]["security"] is True
    calls = log.read_text().splitlines()
    assert calls == ["dnf -q -C check-update --security --exclude=kernel* --exclude=$(touch x)",
                     "dnf -q -y makecache", "dnf -q check-update --security --exclude=kernel* --exclude=$(touch x)",
                     "dnf -q -y upgrade --security --exclude=kernel* --exclude=$(touch x)"]
    again = spec.run(ModuleCall(ctx, args))  # the shim still lists openssl: rpm says nothing changed
    assert again.status == "ok" and again.msg == "nothing upgraded (dnf)"


def test_autoremove_plans_then_removes_what_nothing_needs(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                          lab: AptLab) -> None:
    lab.install(lab.deb("rmmtest-d", "1.0"))
    subprocess.run(["apt-mark", "auto", "rmmtest-d"], env={**os.environ, "APT_CONFIG": str(lab.apt_conf)},
                   check=True, capture_output=True)  # automatically installed, needed by nothing
    inv, pb = setup(fleet, tmp_path, book("{autoremove: true, refresh: false, exclude: ['*']}"), hosts=[1],
                    apt_config=str(lab.apt_conf))
    before = lab.snapshot()
    dry = doc(play(inv, pb, "--check", "-o", "json"))["fleet-01"]["data"]["tasks"][0]
    assert dry["status"] == "changed" and dry["data"]["removed"] == [{"name": "rmmtest-d", "from": "1.0", "to": None}]
    assert dry["message"].startswith("nothing to upgrade; would autoremove 1 (check mode"), dry
    assert lab.snapshot() == before
    run = doc(play(inv, pb, "--yes", "-o", "json"))["fleet-01"]["data"]["tasks"][0]
    assert run["status"] == "changed" and run["message"] == "nothing upgraded; autoremoved 1: rmmtest-d", run
    assert "rmmtest-d" not in lab.versions() and lab.versions()["rmmtest-a"] == "1.0"
    again = doc(play(inv, pb, "--yes", "-o", "json"))["fleet-01"]["data"]["tasks"][0]
    assert again["status"] == "ok", again
