"""`rmmctl diagnose --alert` / `status --alert` and `rmmctl alerts ...` on real sshd hosts with full disks,
delivering to a real SMTP server (aiosmtpd) and a real webhook receiver on 127.0.0.1.

alrt-01, alrt-02  a 100%-full tmpfs on /srv/data (disk.space critical); alrt-01's is emptied by a test
alrt-down         in the inventory only: nothing listens (unreachable)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alertlab import HookSink, SmtpSink
from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet
from schemas import problems

QUIET = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}
APT = {"apt": "#!/bin/sh\necho 'Listing...'\n"}


@pytest.fixture(scope="module")
def alert_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    require_fleet()
    work = tmp_path_factory.mktemp("alerts")
    with Fleet(work / "fleet", prefix="alrt") as fleet:
        fleet.start(2, {f"alrt-0{i}": FixtureSpec(bin=APT, fulldisk="2m", proc=QUIET) for i in (1, 2)})
        inv = fleet.write_inventory(work / "inventory.yaml",
                                    extra={"defaults": {"vars": {"time_service_required": False}}})
        doc = yaml.safe_load(inv.read_text())
        address, port = fleet.closed_port
        doc["hosts"]["alrt-down"] = {"address": address, "port": port, "user": "root"}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield fleet, inv


@pytest.fixture
def lab(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SmtpSink, HookSink, Path]]:
    monkeypatch.setenv("HOOK_SECRET", "hook-key")
    with SmtpSink() as smtp, HookSink() as hook:
        config = tmp_path / "config.yaml"
        config.write_text(f"""alerts:
  channels:
    mail: {{email: {{host: 127.0.0.1, port: {smtp.port}, tls: none, from: rmm@msp.example, to: [noc@msp.example]}}}}
    hook: {{webhook: {{url: "{hook.url}", secret_env: HOOK_SECRET, retries: 0}}}}
  rules:
    - name: disks
      match: {{min_severity: critical, checks: [disk]}}
      channels: [mail, hook]
      fails_before_alert: 2
      resolve: true
      unreachable_after: 2
""")
        yield smtp, hook, config


def test_diagnose_alert_once_per_problem_batched_then_resolved_with_a_failed_send(
        alert_fleet: tuple[Fleet, Path], lab: tuple[SmtpSink, HookSink, Path]) -> None:
    smtp, hook, config = lab
    inv = str(alert_fleet[1])
    args = ("-i", inv, "--config", str(config), "--check", "disk", "--alert")
    first = cli("diagnose", "alrt-01:alrt-02", *args)
    assert first.exit_code == 5 and smtp.messages == []  # 1 of 2 failures
    second = cli("diagnose", "alrt-01:alrt-02", *args)
    assert second.exit_code == 5, second.stderr
    [mail] = smtp.messages  # both hosts in one message
    assert "2 new" in mail["Subject"] and mail["To"] == "noc@msp.example"
    assert "alrt-01" in smtp.bodies()[0] and "alrt-02" in smtp.bodies()[0] and "/srv/data" in smtp.bodies()[0]
    [(headers, body)] = hook.requests
    assert headers["x-rmmctl-signature"] == "sha256=" + hmac.new(b"hook-key", body, hashlib.sha256).hexdigest()
    assert {p["host"] for p in json.loads(body)["problems"]} == {"alrt-01", "alrt-02"}
    assert cli("diagnose", "alrt-01:alrt-02", *args).exit_code == 5
    assert len(smtp.messages) == 1 and len(hook.requests) == 1  # no duplicate
    listed_doc = json.loads(cli("alerts", "list", "-o", "json").stdout)
    assert problems("alerts.schema.json", listed_doc) == []
    listed = listed_doc["alerts"]
    assert {(a["host"], a["state"]) for a in listed} == {("alrt-01", "open"), ("alrt-02", "open")}
    assert all(a["last_sent_at"] and a["opened_at"] for a in listed)
    table = cli("alerts", "list").stdout
    assert "alrt-02" in table and "disk.space" in table and "open" in table

    fix = cli("run", "alrt-01", "-i", inv, "--", "rm", "-f", "/srv/data/fill")
    assert fix.exit_code == 0, fix.stdout + fix.stderr
    smtp.refuse = True  # the run is clean but the resolved mail cannot go: exit 10, said on stderr
    failed = cli("diagnose", "alrt-01", *args)
    assert failed.exit_code == 10, failed.stdout + failed.stderr
    assert "rmmctl: alerts: could not send: mail: SMTP 127.0.0.1:" in failed.stderr and "451" in failed.stderr
    assert "kept, sent again on the next run" in failed.stderr
    assert len(hook.requests) == 2 and json.loads(hook.requests[1][1])["counts"]["resolved"] == 1
    smtp.refuse = False
    retried = cli("diagnose", "alrt-01", *args)
    assert retried.exit_code == 0, retried.stderr
    assert len(smtp.messages) == 2 and "1 resolved" in smtp.messages[1]["Subject"] and len(hook.requests) == 2
    history = json.loads(cli("alerts", "history", "-o", "json").stdout)
    assert problems("alerts.schema.json", history) == [] and problems("alerts.schema.json#/$defs/list", history)
    assert {(a["host"], a["state"]) for a in history["alerts"]} == {("alrt-01", "closed"), ("alrt-02", "open")}
    assert [(s["channel"], s["ok"]) for s in history["sends"]][:2] == [("mail", True), ("hook", True)]
    assert ("mail", False) in [(s["channel"], s["ok"]) for s in history["sends"]]
    shown = cli("alerts", "history").stdout
    assert "closed" in shown and "FAILED" in shown and "Sends" in shown


def test_status_alert_on_an_unreachable_host_after_two_runs(alert_fleet: tuple[Fleet, Path],
                                                            lab: tuple[SmtpSink, HookSink, Path]) -> None:
    smtp, hook, config = lab
    args = ("alrt-down", "-i", str(alert_fleet[1]), "--config", str(config), "--connect-timeout", "2", "--alert")
    assert cli("status", *args).exit_code == 6 and smtp.messages == []
    assert cli("status", *args).exit_code == 6
    [mail] = smtp.messages
    assert "alrt-down host.unreachable" in mail["Subject"]


def test_alerts_test_channel_and_refusals(lab: tuple[SmtpSink, HookSink, Path], tmp_path: Path) -> None:
    smtp, hook, config = lab
    ok = cli("alerts", "test", "mail", "--config", str(config))
    assert ok.exit_code == 0 and "sent a test message through mail (email)" in ok.stdout
    assert "test message" in smtp.bodies()[0] and smtp.messages[0]["X-Rmmctl-Event"] == "test"
    hook.status = 500
    failed = cli("alerts", "test", "hook", "--config", str(config), "-o", "json")
    assert failed.exit_code == 10 and json.loads(failed.stdout)["ok"] is False
    assert problems("alerts.schema.json", json.loads(failed.stdout)) == []
    assert "rmmctl: alerts: hook: webhook to 127.0.0.1: HTTP 500" in failed.stderr
    unknown = cli("alerts", "test", "mial", "--config", str(config))
    assert unknown.exit_code == 3 and "no alert channel 'mial' (did you mean 'mail'?)" in unknown.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("report: {msp_name: X}\n")
    refused = cli("status", "--config", str(empty), "--alert")
    assert refused.exit_code == 3 and "has no alerts.rules" in refused.stderr
    history = json.loads(cli("alerts", "history", "-o", "json").stdout)
    assert [(s["channel"], s["ok"], s["test"]) for s in history["sends"]] == [("hook", False, True), ("mail", True, True)]
