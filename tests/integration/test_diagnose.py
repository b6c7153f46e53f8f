"""`rmmctl diagnose` and `rmmctl history findings` on real sshd hosts with per-host fixtures.

diag-01  healthy; its df and apt shims log each call, so a test sees which probe sections were sent
diag-02  a really full tmpfs on /srv/data (disk.space critical)
diag-03  /run/reboot-required (a warning only)
diag-04  a full /srv/data that a test fixes (`rmmctl run ... rm`) between two runs: findings history
plus, in the inventory only, diag-down (nothing listens: unreachable) and diag-badvar (diag-01 again,
with a threshold var that is not a number).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet
from rmmctl.diagnose import plan

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
NO_TIME_SERVICE = {"defaults": {"vars": {"time_service_required": False}}}  # none runs here
QUIET = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}  # the test machine's own load must not decide


def shims(log: Path) -> dict[str, str]:
    """apt with nothing to upgrade and df, both noting each call in `log`."""
    return {"apt": f"#!/bin/sh\necho \"apt $*\" >> {log}\necho 'Listing...'\n",
            "df": f"#!/bin/sh\necho \"df $*\" >> {log}\nexec /bin/df \"$@\"\n"}


def specs(work: Path) -> dict[str, FixtureSpec]:
    apt = {"apt": "#!/bin/sh\necho 'Listing...'\n"}
    log = {"syslog": "Dec  1 04:00:00 diag cron[12]: (root) CMD (run-parts /etc/cron.hourly)\n"}  # readable logs:
    return {  # without any, logs.unreadable says so (info)
        "diag-01": FixtureSpec(bin=shims(work / "calls.log"), proc=QUIET, log=log),
        "diag-02": FixtureSpec(bin=apt, fulldisk="2m", proc=QUIET, log=log),
        "diag-03": FixtureSpec(bin=apt, run={"reboot-required": "*** System restart required ***\n"}, proc=QUIET,
                               log=log),
        "diag-04": FixtureSpec(bin=apt, fulldisk="2m", proc=QUIET, log=log),
    }


@pytest.fixture(scope="module")
def diag_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    require_fleet()
    work = tmp_path_factory.mktemp("diag")
    with Fleet(work / "fleet", prefix="diag") as fleet:
        fleet.start(4, specs(work))
        inv = fleet.write_inventory(work / "inventory.yaml", extra=NO_TIME_SERVICE)
        doc = yaml.safe_load(inv.read_text())
        address, port = fleet.closed_port
        doc["hosts"]["diag-down"] = {"address": address, "port": port, "user": "root"}
        doc["hosts"]["diag-badvar"] = {**doc["hosts"]["diag-01"], "vars": {"disk_warn_pct": "lots"}}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield fleet, inv, work / "calls.log"




def validate(doc: Any, ref: str = "diagnose.schema.json") -> None:
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    base = "https://rmmctl.dev/schemas/v1/"
    jsonschema.Draft202012Validator({"$ref": base + ref}, registry=registry).validate(doc)


@pytest.fixture(scope="module")
def full_run(diag_fleet: tuple[Fleet, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict]:
    """One `diagnose -o json` of every host (all checks), shared by the tests that only read it."""
    db = tmp_path_factory.mktemp("diagdb") / "rmmctl.db"
    result = cli("diagnose", "all:!diag-04", "-i", str(diag_fleet[1]), "--db", str(db),
                 "--json")
    assert result.stdout, result.stderr
    return result, {h["name"]: h for h in json.loads(result.stdout)["hosts"]}


def test_full_disk_is_critical_with_evidence_and_healthy_host_is_quiet(full_run: tuple[Any, dict]) -> None:
    result, hosts = full_run
    assert result.exit_code == 6, result.stderr  # diag-down is unreachable: 6 outranks 5
    validate(json.loads(result.stdout))
    full = hosts["diag-02"]
    assert full["status"] == "crit"
    [disk] = [f for f in full["data"]["findings"] if f["check_id"] == "disk.space"]
    assert disk["severity"] == "critical" and "/srv/data" in disk["evidence"][0] and disk["remediation"]
    assert full["data"]["findings"][0]["severity"] == "critical"  # critical first
    healthy = hosts["diag-01"]
    assert (healthy["status"], healthy["data"]["findings"], healthy["data"]["errors"]) == ("ok", [], {}), healthy
    assert {"disk.space", "updates.security", "time.skew", "probe.incomplete"} <= set(healthy["data"]["checks"])
    assert hosts["diag-03"]["status"] == "warn"
    assert [f["check_id"] for f in hosts["diag-03"]["data"]["findings"]] == ["reboot.required"]


def test_unreachable_and_bad_threshold_hosts_are_errors(full_run: tuple[Any, dict]) -> None:
    hosts = full_run[1]
    assert hosts["diag-down"]["status"] == "unreachable" and hosts["diag-down"]["data"] == {}
    bad = hosts["diag-badvar"]
    assert bad["status"] == "error" and bad["error"]["kind"] == "config"
    assert bad["error"]["message"] == "diag-badvar: vars.disk_warn_pct must be a number, got 'lots'"


def test_table_groups_by_host_with_evidence_and_fix(diag_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    result = cli("diagnose", "diag-01:diag-02:diag-down", "-i", str(diag_fleet[1]))
    assert result.exit_code == 6
    out = result.stdout
    assert "diag-01 ok no findings (" in out
    assert "diag-02 crit 1 critical" in out and "CRITICAL disk.space  filesystem /srv/data is 100" in out
    assert "> tmpfs /srv/data:" in out and "fix: free space on /srv/data" in out
    assert "diag-down unreachable connect:" in out
    assert out.index("diag-01") < out.index("diag-02") < out.index("diag-down")  # inventory order


@pytest.mark.parametrize("args, code", [
    (("diag-01",), 0), (("diag-03",), 4), (("diag-03", "--fail-on", "critical"), 0), (("diag-02",), 5),
    (("diag-02", "--fail-on", "critical"), 5), (("diag-01:diag-02:diag-03",), 5),
])
def test_exit_codes(diag_fleet: tuple[Fleet, Path, Path], env: dict[str, str], args: tuple[str, ...], code: int) -> None:
    result = cli("diagnose", *args, "-i", str(diag_fleet[1]), "--check", "disk", "--check", "reboot", "--json")
    assert result.exit_code == code, result.stdout + result.stderr
    assert json.loads(result.stdout)["summary"]["exit_code"] == code


def test_nagios(diag_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    inv = str(diag_fleet[1])
    crit = cli("diagnose", "diag-02", "-i", inv, "--check", "disk.space", "--nagios")
    assert crit.exit_code == 2
    assert crit.stdout.startswith("RMMCTL DISK.SPACE CRITICAL - diag-02: critical: filesystem /srv/data is 100")
    assert crit.stdout.count("\n") == 1 and " | critical=1;;;0 warning=0;;;0" in crit.stdout
    assert cli("diagnose", "diag-03", "-i", inv, "--check", "reboot", "--nagios").exit_code == 1
    ok = cli("diagnose", "diag-01", "-i", inv, "--check", "reboot", "--nagios")
    assert (ok.exit_code, ok.stdout.split(" - ")[0]) == (0, "RMMCTL REBOOT OK")
    down = cli("diagnose", "diag-down", "-i", inv, "--nagios")
    assert down.exit_code == 3 and down.stdout.startswith("RMMCTL DIAGNOSE UNKNOWN - diag-down: unreachable")
    many = cli("diagnose", "diag-0*", "-i", inv, "--nagios")
    assert many.exit_code == 2 and many.stdout == ""
    assert "--nagios checks exactly one host, but 'diag-0*' matches 4" in many.stderr
    assert "rmmctl diagnose diag-01 --nagios" in many.stderr


def test_check_disk_sends_only_the_filesystems_section(diag_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    _, inv, calls = diag_fleet
    calls.unlink(missing_ok=True)
    result = cli("diagnose", "diag-01", "-i", str(inv), "--check", "disk", "--json")
    assert result.exit_code == 0, result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    chosen = plan(["disk"])
    assert host["data"]["checks"] == chosen.ids and {"disk.space", "probe.incomplete"} <= set(chosen.ids)
    sent = calls.read_text().splitlines()
    assert sent and all(line.startswith("df ") for line in sent)  # df ran; apt (the updates section) did not
    calls.unlink()
    assert cli("diagnose", "diag-01", "-i", str(inv), "--check", "updates").exit_code == 0
    assert [line for line in calls.read_text().splitlines() if not line.startswith("apt ")] == []


def history(inv: Path, *args: str) -> dict[str, dict]:
    result = cli("history", "findings", *args, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    validate(doc, "diagnose.schema.json#/$defs/history_findings")
    return {f"{f['host']} {f['check_id']}": f for f in doc["findings"]}


def test_findings_history_new_ongoing_resolved(diag_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    inv = str(diag_fleet[1])
    assert cli("diagnose", "diag-04:diag-03", "-i", inv).exit_code == 5
    first = history(diag_fleet[1])
    assert first["diag-04 disk.space"]["state"] == "new" and first["diag-03 reboot.required"]["state"] == "new"
    assert cli("diagnose", "diag-04", "-i", inv, "--check", "disk").exit_code == 5
    assert history(diag_fleet[1], "diag-04")["diag-04 disk.space"]["state"] == "ongoing"
    fix = cli("run", "diag-04", "-i", inv, "--", "rm", "-f", "/srv/data/fill")
    assert fix.exit_code == 0, fix.stdout + fix.stderr
    assert cli("diagnose", "diag-04", "-i", inv, "--check", "disk").exit_code == 0
    after = history(diag_fleet[1])
    resolved = after["diag-04 disk.space"]
    assert resolved["state"] == "resolved" and resolved["resolved_at"] >= resolved["last_seen"]
    assert after["diag-03 reboot.required"]["state"] == "new"  # diag-03 was not diagnosed again
    assert cli("diagnose", "diag-04", "-i", inv, "--check", "disk").exit_code == 0
    assert "diag-04 disk.space" not in history(diag_fleet[1], "diag-04")  # resolved by an earlier run
    assert history(diag_fleet[1], "diag-04", "--all")["diag-04 disk.space"]["state"] == "past"
    table = cli("history", "findings", "diag-03").stdout
    assert "reboot.required" in table and "1 new" in table


def test_unreachable_host_never_resolves_its_findings(diag_fleet: tuple[Fleet, Path, Path], env: dict[str, str]) -> None:
    from rmmctl.store import open_store

    with open_store(Path(env["RMMCTL_DB"])) as store:
        run_id = store.begin_run("diagnose", [])
        store.record_findings(run_id, "diag-down", ["disk.space"], [
            {"check_id": "disk.space", "key": "disk.space:x", "severity": "critical", "title": "x", "evidence": []}])
    assert cli("diagnose", "diag-down", "-i", str(diag_fleet[1])).exit_code == 6
    assert history(diag_fleet[1], "diag-down")["diag-down disk.space"]["state"] == "new"


def test_list_every_check(env: dict[str, str]) -> None:
    result = cli("diagnose", "--list", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    validate(doc, "diagnose.schema.json#/$defs/check_list")
    from rmmctl.checks.catalog import CHECKS

    assert [c["id"] for c in doc["checks"]] == [c.id for c in CHECKS.all()]
    disk = next(c for c in doc["checks"] if c["id"] == "disk.space")
    assert disk["sections"] == ["filesystems"] and disk["thresholds"] == {"disk_warn_pct": 85, "disk_crit_pct": 95}
    table = cli("diagnose", "--list").stdout
    assert "disk_warn_pct=85" in table and "probe.incomplete" in table


def test_local_machine_output_validates_as_json_and_ndjson(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RMMCTL_INVENTORY", raising=False)  # the embedded default: this machine, no fleet
    result = cli("diagnose", "--check", "disk", "--check", "reboot", "--json")
    doc = json.loads(result.stdout)
    validate(doc)
    assert result.exit_code == doc["summary"]["exit_code"] and doc["hosts"][0]["name"] == "localhost"
    lines = [json.loads(line) for line in cli("diagnose", "--check", "disk", "-o", "ndjson").stdout.splitlines()]
    assert [line["type"] for line in lines] == ["host", "summary"]
    validate(lines[0], "diagnose.schema.json#/$defs/ndjson_host")
    validate(lines[1], "diagnose.schema.json#/$defs/ndjson_summary")
