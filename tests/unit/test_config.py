"""The configuration file (docs/config.md): where it is read from, validation errors as FILE:LINE: key, the
shipped example, defaults for the flags, and `config check|show` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli
from rmmctl.config import Config, load_config, parse_config
from rmmctl.errors import ConfigError
from schemas import problems

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config.yaml"


def error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.replace(str(path), "FILE")


@pytest.mark.parametrize(("text", "expected"), [
    ("alerts:\n  channels:\n    m: {email: {host: smtp.x, from: a@b, to: [c@d], username: u, password: hunter2}}\n",
     "FILE:3: alerts.channels.m.email.password: a secret written as a value is refused; expected a reference: "
     "password_env, password_cmd or password_keyring (secret_env for a webhook)"),
    ("alerts:\n  channels:\n    h: {webhook: {url: 'https://x/y', secret: abc}}\n",
     "FILE:3: alerts.channels.h.webhook.secret: a secret written as a value is refused"),
    ("alerts:\n  rules:\n    - name: r\n      channels: [nope]\n",
     "FILE:4: alerts.rules[0].channels[0]: unknown channel 'nope'"),
    ("alerts:\n  channels:\n    m: {email: {host: smtp.msp.example, tls: none, from: a@b, to: [c@d]}}\n",
     "FILE:3: alerts.channels.m.email.tls: tls: none with host 'smtp.msp.example'; expected tls: starttls or tls "
     "(plain SMTP goes only to a relay on loopback"),
    ("alerts:\n  channels:\n    m: {email: {host: 127.0.0.1, tls: startls, from: a@b, to: [c@d]}}\n",
     "FILE:3: alerts.channels.m.email.tls: got 'startls' (did you mean 'starttls'?)"),
    ("alerts:\n  channels:\n    m: {email: {host: 127.0.0.1, from: a@b, to: [c@d]}}\n  rules:\n    - name: r\n"
     "      channels: [m]\n      realert_after: soon\n",
     "FILE:7: alerts.rules[0].realert_after: got 'soon'; expected a duration like 30s, 30m, 24h or 7d"),
    ("alerts:\n  channels:\n    m: {email: {host: 127.0.0.1, from: a@b, to: [c@d]}}\n  rules:\n    - name: r\n"
     "      channels: [m]\n      match: {min_severity: severe}\n",
     "FILE:7: alerts.rules[0].match.min_severity: got 'severe'"),
    ("alerts:\n  channels:\n    m: {email: {host: 127.0.0.1, from: a@b, to: [c@d]}}\n  rules:\n    - name: r\n"
     "      channels: [m]\n      match:\n        checks: [disk, dsk]\n",
     "FILE:8: alerts.rules[0].match.checks[1]: no check matches 'dsk' (did you mean 'disk'?); expected a check id, "
     "a group or a glob: see `rmmctl diagnose --list`"),
    ("alerts:\n  chanels: {}\n", "FILE:2: alerts.chanels: unknown key (did you mean 'channels'?)"),
    ("defaults:\n  forks: 0\n", "FILE:2: defaults.forks: got 0; expected an integer from 1 to 1000"),
    ("report:\n  msp_name: [a]\n", "FILE:2: report.msp_name: got a list; expected a non-empty string"),
    ("alerts:\n  quiet_hours:\n    - {client: acme, hours: late}\n", "FILE:3: alerts.quiet_hours[0].hours: got 'late'"),
    ("alerts:\n  quiet_hours:\n    - {client: acme, hours: 22:00-06:00, timezone: Mars/Olympus}\n",
     "FILE:3: alerts.quiet_hours[0].timezone: unknown time zone 'Mars/Olympus'"),
    ("alerts: {channels: {x: {pager: {}}}}\n", "FILE:1: alerts.channels.x: got pager; expected exactly one of"),
    ("defaults:\n  forks: 2\n  forks: 3\n", "FILE:3: defaults.forks: duplicate key (first at line 2)"),
    ("alerts: [\n", "FILE:2:1: YAML syntax error"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text).startswith(expected)


def test_where_it_is_read_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("RMMCTL_CONFIG", raising=False)
    assert load_config() == Config()  # no default file: an empty configuration
    default = tmp_path / "xdg" / "rmmctl" / "config.yaml"
    default.parent.mkdir(parents=True)
    default.write_text("report: {msp_name: Default MSP}\n")
    assert load_config().report.msp_name == "Default MSP"
    named = tmp_path / "named.yaml"
    named.write_text("report: {msp_name: Named MSP, logo: logo.svg}\n")
    monkeypatch.setenv("RMMCTL_CONFIG", str(named))
    cfg = load_config()
    assert cfg.report.msp_name == "Named MSP" and cfg.report.logo == str(tmp_path / "logo.svg")
    with pytest.raises(ConfigError, match="no such file; pass --config PATH or set RMMCTL_CONFIG"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_the_shipped_example_is_valid() -> None:
    cfg = parse_config(EXAMPLE.read_text(), EXAMPLE)
    assert set(cfg.alerts.channels) == {"ops-mail", "noc-hook", "chat"}
    crit = cfg.alerts.rules[0]
    assert crit.min_severity == "critical" and crit.realert_after == 24 * 3600 and crit.channels == ("ops-mail", "noc-hook")
    assert cfg.alerts.rules[1].unreachable_after is None and cfg.alerts.rules[1].checks == ("disk",)
    assert cfg.report.contacts == {"acme": "it@acme.example"} and cfg.defaults.forks == 20


def test_the_issue_example_is_valid(tmp_path: Path) -> None:
    text = """alerts:
  channels:
    ops-mail: {email: {host: smtp.msp.example, port: 587, tls: starttls, from: rmm@msp.example,
                       to: [noc@msp.example], username: rmm, password_env: SMTP_PASSWORD}}
    noc-hook: {webhook: {url: "https://hooks.msp.example/rmm", secret_env: HOOK_SECRET}}
    chat:     {apprise: {urls_env: APPRISE_URLS}}
  rules:
    - name: critical-anywhere
      match: {min_severity: critical}            # also: checks: [disk, printers.*], hosts: PATTERN
      channels: [ops-mail, noc-hook]
      fails_before_alert: 1
      realert_after: 24h
      resolve: true
"""
    cfg = parse_config(text, tmp_path / "c.yaml")
    assert cfg.alerts.channels["ops-mail"].options["password_env"] == "SMTP_PASSWORD"


def test_config_check_and_show_on_the_command_line(tmp_path: Path, env: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "do-not-print-me")
    ok = cli("config", "check", "--config", str(EXAMPLE))
    assert ok.exit_code == 0 and "ok: 3 channel(s), 2 rule(s)" in ok.stdout
    doc = json.loads(cli("config", "check", "--config", str(EXAMPLE), "-o", "json").stdout)
    assert doc["ok"] is True and doc["channels"]["noc-hook"] == "webhook"
    assert doc["quiet_hours"] == [{"client": "acme", "hours": "22:00-06:00", "timezone": "Europe/Berlin"}]
    shown = cli("config", "show", "--config", str(EXAMPLE), "-o", "json")
    assert problems("config.schema.json", doc) == [] and problems("config.schema.json", json.loads(shown.stdout)) == []
    assert problems("config.schema.json#/$defs/show", doc)  # the two documents are told apart
    assert "do-not-print-me" not in shown.stdout
    hook = json.loads(shown.stdout)["settings"]["alerts"]["channels"]["noc-hook"]["webhook"]
    assert hook["secret_env"] == "HOOK_SECRET (set)" and hook["url"] == "http://127.0.0.1:8765/********"
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  forks: lots\n")
    failed = cli("config", "check", "--config", str(bad))
    assert failed.exit_code == 3 and f"{bad}:2: defaults.forks: got 'lots'" in failed.stderr
    assert cli("config", "check", "--config", str(tmp_path / "none.yaml")).exit_code == 3
    monkeypatch.setenv("RMMCTL_CONFIG", str(bad))
    assert cli("config", "check").exit_code == 3  # RMMCTL_CONFIG is read too


def test_defaults_apply_when_the_flag_is_not_given(tmp_path: Path, env: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from rmmctl.cli import context

    cfg = tmp_path / "c.yaml"
    cfg.write_text("defaults: {forks: 7, timeout: 30, connect_timeout: 4}\n")
    seen = []
    real = context.prepare

    def spy(opts, **kw):  # type: ignore[no-untyped-def]
        p = real(opts, **kw)
        seen.append(p.settings)
        return p

    monkeypatch.setattr(context, "prepare", spy)
    monkeypatch.delenv("RMMCTL_CONNECT_TIMEOUT", raising=False)
    assert cli("ping", "--config", str(cfg)).exit_code == 0
    assert cli("ping", "--config", str(cfg), "--forks", "3", "--connect-timeout", "2").exit_code == 0
    (a, b) = seen
    assert (a.forks, a.host_timeout, a.connect_timeout) == (7, 30.0, 4.0)
    assert (b.forks, b.host_timeout, b.connect_timeout) == (3, 30.0, 2.0)
