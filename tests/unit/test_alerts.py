"""The alert matrix (docs/alerts.md) on the real SQLite store, a real SMTP server (aiosmtpd) and a real HTTP
server on 127.0.0.1, with a fixed clock: runs are RunReports made here, so each case takes milliseconds.
The same flow through `rmmctl diagnose --alert` on sshd hosts is tests/integration/test_alerts_cli.py."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertlab import HookSink, SmtpSink
from rmmctl.alerts import AlertEngine
from rmmctl.config import parse_config
from rmmctl.errors import ExitCode, exit_code_for
from rmmctl.models import Finding, HostError, HostResult, RunReport, Severity, Status
from rmmctl.store import open_store

HOUR = 3600.0
T0 = 1_780_000_000.0  # a fixed clock: 2026-05-28


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def config(tmp_path: Path, smtp: SmtpSink, hook: HookSink, rules: str) -> object:
    text = f"""alerts:
  channels:
    mail: {{email: {{host: 127.0.0.1, port: {smtp.port}, tls: none, from: rmm@msp.example, to: [noc@msp.example]}}}}
    hook: {{webhook: {{url: "{hook.url}", secret_env: HOOK_SECRET, retries: 1, backoff: 0}}}}
  rules:
{rules}
"""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return parse_config(text, path)


CRITICAL_RULE = """    - name: crit
      match: {min_severity: critical}
      channels: [mail, hook]
      fails_before_alert: 2
      realert_after: 24h
      resolve: true
      unreachable_after: 2
"""


def full(host: str) -> HostResult:
    disk = Finding("disk.space", Severity.CRITICAL, "filesystem /srv/data is 100.0% full", ("/srv/data 100%",))
    return HostResult(host, "127.0.0.1", Status.CRIT, findings=(disk,), checks=("disk.space", "reboot.required"))


def healthy(host: str) -> HostResult:
    return HostResult(host, "127.0.0.1", Status.OK, checks=("disk.space", "reboot.required"))


def down(host: str) -> HostResult:
    return HostResult(host, "127.0.0.1", Status.UNREACHABLE, error=HostError("connect", "connection refused"))


def report(*hosts: HostResult) -> RunReport:
    return RunReport("diagnose", T0, 1.0, tuple(hosts))


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SmtpSink, HookSink, Clock, object, Path]]:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    with SmtpSink() as smtp, HookSink() as hook:
        cfg = config(tmp_path, smtp, hook, CRITICAL_RULE)
        yield smtp, hook, Clock(), cfg, tmp_path / "h.db"


def run(db: Path, cfg: object, clock: Clock, *hosts: HostResult) -> object:
    with open_store(db) as store:
        return AlertEngine(cfg.alerts, store, clock=clock).run(report(*hosts))  # type: ignore[attr-defined]


def test_first_alert_after_n_failures_then_no_duplicate(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    assert run(db, cfg, clock, full("web-01")).sent == {}  # 1 of 2 failures: counting
    assert smtp.messages == [] and hook.requests == []
    clock.now += 300
    out = run(db, cfg, clock, full("web-01"))
    assert out.sent == {"mail": {"new": 1, "realert": 0, "resolved": 0}, "hook": {"new": 1, "realert": 0, "resolved": 0}}
    assert len(smtp.messages) == 1 and "web-01 disk.space" in smtp.messages[0]["Subject"]
    assert "filesystem /srv/data is 100.0% full" in smtp.bodies()[0]
    for _ in range(3):  # the same problem on the next runs: no second alert
        clock.now += 300
        assert run(db, cfg, clock, full("web-01")).sent == {}
    assert len(smtp.messages) == 1 and len(hook.requests) == 1


def test_webhook_document_and_hmac(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    run(db, cfg, clock, full("web-01"))
    run(db, cfg, clock, full("web-01"))
    [(headers, body)] = hook.requests
    want = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-rmmctl-signature"] == want and headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["schema"] == "rmmctl/v1" and doc["type"] == "alert" and doc["counts"]["new"] == 1
    [problem] = doc["problems"]
    assert problem["host"] == "web-01" and problem["event"] == "new" and problem["severity"] == "critical"


def test_many_hosts_one_message_per_channel(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    hosts = [full(f"h{i:03}") for i in range(100)]
    run(db, cfg, clock, *hosts)
    run(db, cfg, clock, *hosts)
    assert len(smtp.messages) == 1 and len(hook.requests) == 1  # 100 full disks, one mail
    assert "100 new" in smtp.messages[0]["Subject"]
    assert len(json.loads(hook.requests[0][1])["problems"]) == 100
    assert all(f"h{i:03} " in smtp.bodies()[0] for i in range(100))


def test_realert_after_the_interval_then_resolved(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    run(db, cfg, clock, full("web-01"))
    run(db, cfg, clock, full("web-01"))
    clock.now += 23 * HOUR
    run(db, cfg, clock, full("web-01"))
    assert len(smtp.messages) == 1  # not yet 24 h
    clock.now += 1 * HOUR + 1
    out = run(db, cfg, clock, full("web-01"))
    assert out.sent["mail"]["realert"] == 1 and len(smtp.messages) == 2
    assert "STILL OPEN" in smtp.bodies()[1]
    clock.now += 300
    out = run(db, cfg, clock, healthy("web-01"))
    assert out.sent["mail"] == {"new": 0, "realert": 0, "resolved": 1}
    assert "1 resolved" in smtp.messages[2]["Subject"] and "RESOLVED" in smtp.bodies()[2]
    clock.now += 300
    run(db, cfg, clock, healthy("web-01"))
    assert len(smtp.messages) == 3  # resolved once
    with open_store(db) as store:
        assert store.alert_rows() == []
        [closed] = store.alert_history()
        assert closed["state"] == "closed" and closed["resolve_sent_at"] == clock.now - 300


def test_a_problem_gone_before_it_alerted_sends_nothing(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    run(db, cfg, clock, full("web-01"))
    run(db, cfg, clock, healthy("web-01"))
    run(db, cfg, clock, full("web-01"))  # the count starts again
    assert smtp.messages == [] and hook.requests == []


def test_failing_smtp_is_retried_next_run_and_reported(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    smtp.refuse = True
    run(db, cfg, clock, full("web-01"), full("web-02"))
    out = run(db, cfg, clock, full("web-01"), full("web-02"))
    assert out.sent == {"hook": {"new": 2, "realert": 0, "resolved": 0}}
    [error] = out.errors
    assert error.startswith("mail: SMTP 127.0.0.1:") and "451" in error
    broken = RunReport("diagnose", T0, 1.0, (healthy("x"),), alert_error="; ".join(out.errors))
    assert exit_code_for(broken) is ExitCode.ALERT and int(ExitCode.ALERT) == 10
    assert exit_code_for(RunReport("diagnose", T0, 1.0, (full("x"),), alert_error="x")) is ExitCode.CRIT
    smtp.refuse = False
    clock.now += 300
    out = run(db, cfg, clock, full("web-01"), full("web-02"))
    assert out.errors == [] and out.sent == {"mail": {"new": 2, "realert": 0, "resolved": 0}}  # the hook had them
    assert len(smtp.messages) == 1 and len(hook.requests) == 1
    with open_store(db) as store:
        sends = store.alert_sends()
        assert [(s["channel"], s["ok"]) for s in sends] == [("mail", True), ("hook", True), ("mail", False)]


def test_webhook_retries_then_fails_and_keeps_the_alert(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    hook.status = 503
    run(db, cfg, clock, full("web-01"))
    out = run(db, cfg, clock, full("web-01"))
    assert len(hook.requests) == 2  # retries: 1
    assert out.errors == ["hook: webhook to 127.0.0.1: HTTP 503 Service Unavailable after 2 attempts"]
    hook.status = 200
    out = run(db, cfg, clock, full("web-01"))
    assert out.sent == {"hook": {"new": 1, "realert": 0, "resolved": 0}} and len(smtp.messages) == 1


def test_unreachable_alerts_after_n_runs_and_resolves(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    run(db, cfg, clock, down("db-01"))
    assert smtp.messages == []
    run(db, cfg, clock, down("db-01"))
    assert "db-01 host.unreachable" in smtp.messages[0]["Subject"] and "connection refused" in smtp.bodies()[0]
    run(db, cfg, clock, healthy("db-01"))
    assert "1 resolved" in smtp.messages[1]["Subject"]


def test_unreachable_host_keeps_its_other_alerts_open(lab: tuple) -> None:
    smtp, hook, clock, cfg, db = lab
    run(db, cfg, clock, full("web-01"))
    run(db, cfg, clock, full("web-01"))
    run(db, cfg, clock, down("web-01"))
    with open_store(db) as store:
        states = {r["check_id"]: r["state"] for r in store.alert_rows()}
    assert states == {"disk.space": "open", "host.unreachable": "pending"}


def test_rule_matching_checks_hosts_severity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rmmctl.config import check_matches

    assert check_matches("disk.space", ["disk"]) and check_matches("printers.queue", ["printers.*"])
    assert not check_matches("diskette.x", ["disk"]) and check_matches("anything", [])
    monkeypatch.setenv("HOOK_SECRET", "x")
    with SmtpSink() as smtp, HookSink() as hook:
        cfg = config(tmp_path, smtp, hook, """    - name: reboots
      match: {min_severity: warning, checks: [reboot]}
      channels: [mail]
      unreachable_after: false
""")
        clock = Clock()
        reboot = Finding("reboot.required", Severity.WARNING, "a reboot is pending")
        info = Finding("reboot.uptime", Severity.INFO, "up for 400 days")
        host = HostResult("web-01", "127.0.0.1", Status.WARN, findings=(reboot, info), checks=("reboot.required",))
        run(tmp_path / "h.db", cfg, clock, host, full("web-02"), down("web-03"))
        [message] = smtp.messages
        assert "1 new" in message["Subject"] and "reboot.required" in smtp.bodies()[0]
        assert "web-02" not in smtp.bodies()[0] and "web-03" not in smtp.bodies()[0]


def test_quiet_hours_hold_a_clients_alerts_until_they_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from rmmctl.inventory.model import Host, Inventory

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("HOOK_SECRET", "x")
    with SmtpSink() as smtp, HookSink() as hook:
        text = config(tmp_path, smtp, hook, """    - name: all
      match: {min_severity: warning}
      channels: [mail]
""").data  # type: ignore[attr-defined]
        path = tmp_path / "q.yaml"
        path.write_text((tmp_path / "config.yaml").read_text() + '  quiet_hours:\n    - {client: acme, hours: "22:00-06:00"}\n')
        cfg = parse_config(path.read_text(), path)
        assert text and cfg.alerts.quiet_hours[0].holds(23 * 60)
        inv = Inventory(hosts={"a1": Host("a1", "127.0.0.1", client="acme"), "b1": Host("b1", "127.0.0.1")},
                        groups={}, source=None, format="rmmctl")
        clock = Clock()
        clock.now = 1_780_012_800.0 + 23 * HOUR  # 23:00 UTC
        with open_store(tmp_path / "h.db") as store:
            out = AlertEngine(cfg.alerts, store, inv, clock=clock).run(report(full("a1"), full("b1")))
            assert out.held == 1 and "b1 disk.space" in smtp.messages[0]["Subject"]
            assert "a1" not in smtp.bodies()[0]
            clock.now += 8 * HOUR  # 07:00: quiet hours are over, the held alert goes out
            AlertEngine(cfg.alerts, store, inv, clock=clock).run(report(full("a1"), full("b1")))
        assert len(smtp.messages) == 2 and "a1 disk.space" in smtp.messages[1]["Subject"]
    monkeypatch.delenv("TZ")
    time.tzset()


def test_quiet_hours_in_the_clients_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry's `timezone` beats the hosts' `timezone` var, which beats the runner's clock (UTC here)."""
    import time

    from rmmctl.inventory.model import Host, Inventory

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("HOOK_SECRET", "x")
    try:
        with SmtpSink() as smtp, HookSink() as hook:
            config(tmp_path, smtp, hook, "    - {name: all, match: {min_severity: warning}, channels: [mail]}\n")
            path = tmp_path / "q.yaml"
            path.write_text((tmp_path / "config.yaml").read_text() + """  quiet_hours:
    - {client: acme, hours: "22:00-06:00", timezone: America/New_York}
    - {client: globex, hours: "22:00-06:00"}
    - {client: initech, hours: "22:00-06:00"}
""")
            cfg = parse_config(path.read_text(), path)
            assert cfg.alerts.quiet_hours[0].timezone == "America/New_York"
            inv = Inventory(hosts={
                "a1": Host("a1", "127.0.0.1", client="acme", vars={"timezone": "Asia/Tokyo"}),  # the entry wins
                "g1": Host("g1", "127.0.0.1", client="globex", vars={"timezone": "Europe/Berlin"}),
                "i1": Host("i1", "127.0.0.1", client="initech"),  # no zone: the runner's clock (UTC)
            }, groups={}, source=None, format="rmmctl")
            day = 1_780_012_800.0  # 2026-05-29 00:00 UTC (summer time in New York and Berlin)
            # UTC time -> the hosts held: New York (EDT, -4), Berlin (CEST, +2), the runner (UTC)
            for at, held in ((21.5, {"g1"}),  # 17:30 NY, 23:30 Berlin, 21:30 UTC
                             (14.0, set()),  # 10:00 NY (Tokyo's 23:00 would hold a1: the entry's zone wins)
                             (23.0, {"g1", "i1"}),  # 19:00 NY, 01:00 Berlin, 23:00 UTC
                             (3.0, {"a1", "g1", "i1"})):  # 23:00 NY (the day before), 05:00 Berlin, 03:00 UTC
                clock = Clock()
                clock.now = day + at * HOUR
                before = len(smtp.messages)
                with open_store(tmp_path / f"h{at}.db") as store:
                    out = AlertEngine(cfg.alerts, store, inv, clock=clock).run(report(full("a1"), full("g1"), full("i1")))
                assert out.held == len(held), (at, out.held)
                sent = "".join(smtp.bodies()[before:])
                assert {h for h in ("a1", "g1", "i1") if f"{h} " not in sent} == held, (at, sent)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_email_over_starttls_and_implicit_tls_with_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         tls: str) -> None:
    from alertlab import self_signed
    from rmmctl.alerts import alert_document
    from rmmctl.notify import NotifyError, send

    cert = self_signed(tmp_path)
    monkeypatch.setenv("SMTP_PASSWORD", "pw-123")
    with SmtpSink(tls=tls, cert=cert, login=("rmm", "pw-123")) as smtp:
        def channel(extra: str) -> object:
            text = (f"alerts:\n  channels:\n    m: {{email: {{host: 127.0.0.1, port: {smtp.port}, tls: {tls}, "
                    f"from: rmm@msp.example, to: [noc@msp.example], username: rmm, password_env: SMTP_PASSWORD{extra}}}}}\n")
            return parse_config(text, tmp_path / "c.yaml").alerts.channels["m"]

        doc = alert_document("m", [], T0, test=True)
        send(channel(f", ca_file: {cert[0]}"), doc)  # type: ignore[arg-type]
        assert smtp.logins == ["rmm"] and len(smtp.messages) == 1
        monkeypatch.setenv("SMTP_PASSWORD", "wrong")
        with pytest.raises(NotifyError, match=r"login as 'rmm' refused \(535\)"):
            send(channel(f", ca_file: {cert[0]}"), doc)  # type: ignore[arg-type]
        with pytest.raises(NotifyError, match="TLS certificate not trusted"):
            send(channel(""), doc)  # type: ignore[arg-type]  # the system CAs do not know this one
        monkeypatch.delenv("SMTP_PASSWORD")
        with pytest.raises(NotifyError, match=r"password_env names \$SMTP_PASSWORD, which is not set"):
            send(channel(f", ca_file: {cert[0]}"), doc)  # type: ignore[arg-type]
        assert "pw-123" not in str(smtp.messages[0])


def test_apprise_missing_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from rmmctl.alerts import alert_document
    from rmmctl.notify import NotifyError, send

    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise -> ImportError, as when not installed
    monkeypatch.setenv("APPRISE_URLS", "json://127.0.0.1:9/x")
    cfg = parse_config("alerts:\n  channels:\n    chat: {apprise: {urls_env: APPRISE_URLS}}\n", tmp_path / "c.yaml")
    with pytest.raises(NotifyError) as caught:
        send(cfg.alerts.channels["chat"], alert_document("chat", [], T0, test=True))
    assert str(caught.value) == "channel chat: apprise is not installed; pip install 'rmmctl[notify]'"


def test_apprise_delivers_one_message_per_batch_to_a_real_server(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The `apprise` channel through the real apprise library (the notify extra) to a real HTTP server on
    loopback: apprise's `json://` service (any of its URLs goes the same way), two URLs in the variable."""
    from rmmctl.notify import NotifyError  # apprise itself is a test dependency: no skip when it is missing

    with HookSink() as first, HookSink() as second, SmtpSink() as smtp:
        port1, port2 = (s.url.split(":")[2].split("/")[0] for s in (first, second))
        monkeypatch.setenv("APPRISE_URLS", f"json://127.0.0.1:{port1}/a, json://127.0.0.1:{port2}/b")
        text = f"""alerts:
  channels:
    chat: {{apprise: {{urls_env: APPRISE_URLS}}}}
    mail: {{email: {{host: 127.0.0.1, port: {smtp.port}, tls: none, from: rmm@msp.example, to: [noc@msp.example]}}}}
  rules:
    - {{name: crit, match: {{min_severity: critical}}, channels: [chat], resolve: true}}
"""
        cfg = parse_config(text, tmp_path / "c.yaml")
        clock, db = Clock(), tmp_path / "h.db"
        out = run(db, cfg, clock, full("web-01"), full("web-02"))
        assert out.sent == {"chat": {"new": 2, "realert": 0, "resolved": 0}}
        assert len(first.requests) == 1 and len(second.requests) == 1  # one message per URL for the batch
        body = json.loads(first.requests[0][1])
        assert "web-01" in body["message"] and "web-02" in body["message"], body
        assert "/srv/data is 100.0% full" in body["message"] and "2 new" in body["title"], body
        clock.now += 300
        assert run(db, cfg, clock, healthy("web-01"), full("web-02")).sent == {
            "chat": {"new": 0, "realert": 0, "resolved": 1}}
        assert "resolved" in json.loads(first.requests[1][1])["title"].lower()

        first.status = 500  # a URL that fails: the send fails, the run says so, the alert is kept
        clock.now += 300
        failed = run(db, cfg, clock, healthy("web-01"), healthy("web-02"))
        assert failed.errors and "apprise could not deliver to every URL in $APPRISE_URLS" in failed.errors[0], failed
        first.status = 204
        clock.now += 300
        assert run(db, cfg, clock, healthy("web-01"), healthy("web-02")).sent == {
            "chat": {"new": 0, "realert": 0, "resolved": 1}}  # delivered on the next run

        monkeypatch.setenv("APPRISE_URLS", "nosuchservice://x")
        from rmmctl.alerts import alert_document
        from rmmctl.notify import send

        with pytest.raises(NotifyError, match=r"apprise does not know one of the URLs in \$APPRISE_URLS"):
            send(cfg.alerts.channels["chat"], alert_document("chat", [], T0, test=True))


def test_the_processor_never_fails_the_run(tmp_path: Path) -> None:
    from rmmctl.alerts import AlertProcessor
    from rmmctl.processors import RunInfo

    class Broken:
        def alert_rows(self) -> list:
            raise RuntimeError("boom\nsecond line")

    cfg = parse_config("alerts:\n  channels:\n    m: {email: {host: 127.0.0.1, from: a@b, to: [c@d]}}\n"
                       "  rules:\n    - {name: r, channels: [m]}\n", tmp_path / "c.yaml")
    run_info = RunInfo("diagnose", (), (), T0)
    AlertProcessor(cfg.alerts, Broken()).run_finished(run_info, report(full("a")))
    assert run_info.alert_error == "alerts not evaluated: internal error: RuntimeError: boom"
    stored = RunInfo("diagnose", (), (), T0, store_error="locked")
    AlertProcessor(cfg.alerts, Broken()).run_finished(stored, report(full("a")))
    assert stored.alert_error == "alerts not evaluated: the history database could not be written"
