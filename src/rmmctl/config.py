"""The tool-wide configuration file (docs/config.md): alert channels and rules, report branding, defaults.

    cfg = load_config()                      # --config / $RMMCTL_CONFIG / $XDG_CONFIG_HOME/rmmctl/config.yaml
    cfg.report.msp_name, cfg.report.logo     # report branding (logo: an absolute path, or None)
    cfg.report.contacts.get("acme")          # a client's report contact, if written
    cfg.defaults.forks                       # None unless the file sets it
    cfg.alerts.channels["ops-mail"], cfg.alerts.rules

Read with the inventory's line-aware YAML loader, so every problem is one line
`FILE:LINE: key.path: problem; expected ...` (ConfigError, exit 3). Secrets are only named
(`password_env`, `password_cmd`, `password_keyring`, `secret_env`, `urls_env`): a literal `password:` or
`secret:` is refused. A missing default file is an empty configuration; a missing named file is an error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.inventory.conn import BadValue
from rmmctl.inventory.window import check_timezone
from rmmctl.inventory.parse import (
    ENV_RE,
    NAME_RE,
    MarkedList,
    MarkedMap,
    Source,
    YamlSyntaxError,
    check_duplicates,
    check_text,
    describe,
    did_you_mean,
    is_secret_key,
    join,
    load_yaml,
    mapping,
)

CONFIG_ENV = "RMMCTL_CONFIG"
MAX_CONFIG_BYTES = 1024 * 1024
SEVERITIES = ("info", "warning", "critical")
TLS_MODES = ("starttls", "tls", "none")
UNREACHABLE_CHECK = "host.unreachable"  # the pseudo check id of "the host did not answer" (docs/alerts.md)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_HOURS = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")
_SECRET_REFS = "password_env, password_cmd or password_keyring (secret_env for a webhook)"


@dataclass(frozen=True, slots=True)
class Channel:
    """One alert channel: `kind` is email, webhook or apprise; `options` its validated keys."""

    name: str
    kind: str
    options: dict[str, Any]
    line: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """Which problems alert, where, and how often (docs/alerts.md, "Rules")."""

    name: str
    channels: tuple[str, ...]
    min_severity: str = "warning"
    checks: tuple[str, ...] = ()  # check ids, groups (`disk`) or globs (`printers.*`); empty: every check
    hosts: str | None = None  # an inventory pattern; None: every host
    fails_before_alert: int = 1
    realert_after: float | None = None  # seconds; None: never again while open
    resolve: bool = True
    unreachable_after: int | None = 3  # runs; None (`false`): unreachable hosts do not alert under this rule


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Alerts for a client's hosts are held (not lost) from `start` to `end` (minutes after midnight) in
    `timezone` (None: each host's `timezone` inventory var, else the runner's local time)."""

    client: str
    start: int
    end: int
    text: str
    timezone: str | None = None

    def holds(self, minute_of_day: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    channels: dict[str, Channel] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    quiet_hours: tuple[QuietHours, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """Report branding read by `rmmctl report`: all optional."""

    msp_name: str | None = None
    logo: str | None = None  # absolute path (a relative one is taken from the config file's folder)
    contacts: dict[str, str] = field(default_factory=dict)  # client -> report contact address


@dataclass(frozen=True, slots=True)
class Defaults:
    """Used when the flag is not given (and, for connect_timeout, RMMCTL_CONNECT_TIMEOUT is not set)."""

    forks: int | None = None
    timeout: float | None = None
    connect_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # the file read; None: no file (the default path did not exist)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    defaults: Defaults = field(default_factory=Defaults)
    data: dict[str, Any] = field(default_factory=dict)  # the file as plain data (no secrets can be in it)


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rmmctl" / "config.yaml"


def config_path(given: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """(the file to read, whether it was named: --config, then $RMMCTL_CONFIG, else the XDG default)."""
    if given:
        return Path(given), True
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), True
    return default_config_path(), False


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """The configuration (see the module docstring); ConfigError (exit 3) when it is not valid."""
    from rmmctl.inventory.load import read_limited

    file, named = config_path(path)
    if not named and not file.exists():
        return Config()
    if named and not os.path.lexists(file):
        raise ConfigError(f"config {file}: no such file; pass --config PATH or set {CONFIG_ENV}")
    try:
        raw = read_limited(file, MAX_CONFIG_BYTES)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("inventory", "config", 1).replace("an inventory", "a config")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    return parse_config(text, file)


def parse_config(text: str, path: Path) -> Config:
    src = Source(path)
    check_text(text, src)
    try:
        data = load_yaml(text, src)
    except YamlSyntaxError as exc:
        raise exc.error from None
    if data is None:
        return Config(path=path)
    top = mapping(data, src, "", getattr(data, "line", 1), "expected a mapping with alerts, report, defaults")
    check_duplicates(top, src)
    _no_literal_secrets(top, src, "")
    _known(top, src, "", ("alerts", "report", "defaults"))
    alerts = _alerts(top.get("alerts"), src, top.line_of("alerts"))
    report = _report(top.get("report"), src, top.line_of("report"))
    defaults = _defaults(top.get("defaults"), src, top.line_of("defaults"))
    from rmmctl.inventory.parse import plain

    return Config(path=path, alerts=alerts, report=report, defaults=defaults, data=plain(top))


# -- sections ---------------------------------------------------------------------------------------


def _alerts(value: Any, src: Source, line: int) -> AlertsConfig:
    node = mapping(value, src, "alerts", line)
    _known(node, src, "alerts", ("channels", "rules", "quiet_hours"))
    channels: dict[str, Channel] = {}
    chans = mapping(node.get("channels"), src, "alerts.channels", node.line_of("channels"))
    for name, spec in chans.items():
        channels[name] = _channel(name, spec, src, chans.line_of(name))
    rules = []
    seen: dict[str, int] = {}
    for index, item, where, item_line in _items(node, "rules", src, "alerts"):
        rule = _rule(item, src, where, item_line, channels)
        if rule.name in seen:
            raise src.error(item_line, f"{where}.name", f"rule {rule.name!r} is defined twice (first at line "
                            f"{seen[rule.name]})", "give each rule its own name")
        seen[rule.name] = item_line
        rules.append(rule)
    quiet = []
    for _, item, where, item_line in _items(node, "quiet_hours", src, "alerts"):
        q = mapping(item, src, where, item_line)
        _known(q, src, where, ("client", "hours", "timezone"))
        client = _string(q, "client", src, where, required=True)
        hours = _string(q, "hours", src, where, required=True)
        m = _HOURS.match(hours.replace(" ", ""))
        if not m:
            raise src.error(q.line_of("hours"), f"{where}.hours", f"got {hours!r}", "expected HH:MM-HH:MM, e.g. "
                            "\"22:00-06:00\" (the client's time: `timezone`, else its hosts' timezone var)")
        zone = _string(q, "timezone", src, where)
        if zone is not None:
            try:
                zone = check_timezone(zone)
            except BadValue as bad:
                raise src.error(q.line_of("timezone"), f"{where}.timezone", bad.problem, bad.expected) from None
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        quiet.append(QuietHours(client, h1 * 60 + m1, h2 * 60 + m2, hours, zone))
    return AlertsConfig(channels, tuple(rules), tuple(quiet))


_CHANNEL_KEYS = {
    "email": ("host", "port", "tls", "from", "to", "username", "password_env", "password_cmd", "password_keyring",
              "timeout", "ca_file"),
    "webhook": ("url", "url_env", "secret_env", "retries", "backoff", "timeout", "ca_file"),
    "apprise": ("urls_env",),
}


def _channel(name: str, spec: Any, src: Source, line: int) -> Channel:
    where = f"alerts.channels.{name}"
    if not NAME_RE.match(name):
        raise src.error(line, where, "a channel name must be letters, digits, '.', '-' and '_'")
    node = mapping(spec, src, where, line, "expected one of email:, webhook:, apprise: with its settings")
    kinds = [k for k in node if k in _CHANNEL_KEYS]
    if len(node) != 1 or len(kinds) != 1:
        other = next((k for k in node if k not in _CHANNEL_KEYS), None)
        hint = did_you_mean(other, _CHANNEL_KEYS) if other else ""
        raise src.error(line, where, f"got {', '.join(map(str, node)) or 'nothing'}{hint}",
                        "expected exactly one of email:, webhook:, apprise:")
    kind = kinds[0]
    path = join(where, kind)
    opts = mapping(node[kind], src, path, node.line_of(kind))
    _known(opts, src, path, _CHANNEL_KEYS[kind])
    out: dict[str, Any] = {}
    for key in ("password_env", "secret_env", "urls_env", "url_env"):
        if key in opts:
            value = _string(opts, key, src, path)
            if not ENV_RE.match(value):
                raise src.error(opts.line_of(key), join(path, key), f"got {value!r}",
                                "expected the NAME of an environment variable, e.g. SMTP_PASSWORD")
            out[key] = value
    for key in ("password_cmd", "password_keyring", "username", "ca_file"):
        if key in opts:
            out[key] = _string(opts, key, src, path)
    if "ca_file" in out:
        out["ca_file"] = src.resolve(out["ca_file"])
    out["timeout"] = _duration(opts, "timeout", src, path, 10.0)
    if kind == "email":
        _email(opts, src, path, out)
    elif kind == "webhook":
        if ("url" in opts) == ("url_env" in opts):
            raise src.error(opts.line, path, "needs url or url_env (not both)",
                            "expected url: \"https://hooks.example/rmm\" or url_env: HOOK_URL")
        if "url" in opts:
            out["url"] = _string(opts, "url", src, path)
            if not out["url"].startswith(("https://", "http://")):
                raise src.error(opts.line_of("url"), join(path, "url"), f"got {out['url']!r}", "expected an http(s):// URL")
        out["retries"] = _int(opts, "retries", src, path, 3, 0, 10)
        out["backoff"] = _duration(opts, "backoff", src, path, 1.0)
    elif "urls_env" not in out:
        raise src.error(opts.line, path, "needs urls_env", "expected urls_env: NAME of a variable holding the "
                        "apprise URLs (they carry tokens, so they are never written here)")
    return Channel(name, kind, out, line)


def _email(opts: MarkedMap, src: Source, path: str, out: dict[str, Any]) -> None:
    out["host"] = _string(opts, "host", src, path, required=True)
    tls = _string(opts, "tls", src, path) or "starttls"
    if tls not in TLS_MODES:
        raise src.error(opts.line_of("tls"), join(path, "tls"), f"got {tls!r}{did_you_mean(tls, TLS_MODES)}",
                        f"expected one of {', '.join(TLS_MODES)}")
    if tls == "none" and not is_loopback(out["host"]):
        raise src.error(opts.line_of("tls"), join(path, "tls"), f"tls: none with host {out['host']!r}",
                        "expected tls: starttls or tls (plain SMTP goes only to a relay on loopback: "
                        "127.0.0.1, ::1, localhost)")
    out["tls"] = tls
    out["port"] = _int(opts, "port", src, path, {"starttls": 587, "tls": 465, "none": 25}[tls], 1, 65535)
    out["from"] = _string(opts, "from", src, path, required=True)
    to = opts.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise src.error(opts.line_of("to"), join(path, "to"), f"got {describe(opts.get('to'))}",
                        "expected a list of addresses, e.g. [noc@msp.example]")
    out["to"] = list(to)
    refs = [k for k in ("password_env", "password_cmd", "password_keyring") if k in out]
    if len(refs) > 1:
        raise src.error(opts.line_of(refs[1]), join(path, refs[1]), f"given with {refs[0]}", "expected one of them")
    if refs and "username" not in out:
        raise src.error(opts.line_of(refs[0]), path, f"{refs[0]} without username", "expected username: too")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_RULE_KEYS = ("name", "match", "channels", "fails_before_alert", "realert_after", "resolve", "unreachable_after")


def _rule(item: Any, src: Source, where: str, line: int, channels: dict[str, Channel]) -> Rule:
    node = mapping(item, src, where, line)
    _known(node, src, where, _RULE_KEYS)
    name = _string(node, "name", src, where, required=True)
    if not NAME_RE.match(name):
        raise src.error(node.line_of("name"), f"{where}.name", f"got {name!r}",
                        "expected a name of letters, digits, '.', '-' and '_'")
    match = mapping(node.get("match"), src, f"{where}.match", node.line_of("match"))
    _known(match, src, f"{where}.match", ("min_severity", "checks", "hosts"))
    severity = _string(match, "min_severity", src, f"{where}.match") or "warning"
    if severity not in SEVERITIES:
        raise src.error(match.line_of("min_severity"), f"{where}.match.min_severity",
                        f"got {severity!r}{did_you_mean(severity, SEVERITIES)}", f"expected one of {', '.join(SEVERITIES)}")
    checks = _strings(match, "checks", src, f"{where}.match")
    _check_ids(match, checks, src, f"{where}.match")
    hosts = _string(match, "hosts", src, f"{where}.match")
    names = _strings(node, "channels", src, where)
    if not names:
        raise src.error(node.line_of("channels") if "channels" in node else line, f"{where}.channels", "no channel",
                        "expected a list of channel names from alerts.channels")
    for index, ch in enumerate(names):
        if ch not in channels:
            raise src.error(_item_line(node, "channels", index), f"{where}.channels[{index}]",
                            f"unknown channel {ch!r}{did_you_mean(ch, channels)}",
                            f"expected one of: {', '.join(channels) or '(none defined under alerts.channels)'}")
    resolve = node.get("resolve", True)
    if not isinstance(resolve, bool):
        raise src.error(node.line_of("resolve"), f"{where}.resolve", f"got {describe(resolve)}", "expected true or false")
    unreachable: int | None = 3
    if node.get("unreachable_after") is False:
        unreachable = None
    elif "unreachable_after" in node:
        unreachable = _int(node, "unreachable_after", src, where, 3, 1, 10_000)
    realert = _duration(node, "realert_after", src, where, None)
    return Rule(name=name, channels=tuple(names), min_severity=severity, checks=tuple(checks), hosts=hosts,
                fails_before_alert=_int(node, "fails_before_alert", src, where, 1, 1, 10_000),
                realert_after=realert, resolve=resolve, unreachable_after=unreachable)


def check_matches(check_id: str, patterns: Sequence[str]) -> bool:
    """A check id against a rule's `checks`: an id, a group (`disk` is every disk.*) or a glob (`printers.*`)."""
    import fnmatch

    if not patterns:
        return True
    return any(check_id == p or check_id.startswith(p + ".") or fnmatch.fnmatchcase(check_id, p) for p in patterns)


def _check_ids(node: MarkedMap, checks: list[str], src: Source, path: str) -> None:
    """Each entry of match.checks must select at least one registered check (`rmmctl diagnose --list`)."""
    from rmmctl.checks.catalog import CHECKS

    ids = [c.id for c in CHECKS.all()] + [UNREACHABLE_CHECK]
    groups = sorted({i.split(".")[0] for i in ids})
    for index, pattern in enumerate(checks):
        if not any(check_matches(i, [pattern]) for i in ids):
            raise src.error(_item_line(node, "checks", index), f"{path}.checks[{index}]",
                            f"no check matches {pattern!r}{did_you_mean(pattern, [*groups, *ids])}",
                            "expected a check id, a group or a glob: see `rmmctl diagnose --list`")


def _report(value: Any, src: Source, line: int) -> ReportConfig:
    node = mapping(value, src, "report", line)
    _known(node, src, "report", ("msp_name", "logo", "contacts"))
    logo = _string(node, "logo", src, "report")
    contacts = mapping(node.get("contacts"), src, "report.contacts", node.line_of("contacts"),
                       "expected a mapping of client name to a contact address")
    out = {}
    for client, address in contacts.items():
        if not isinstance(address, str) or not address.strip():
            raise src.error(contacts.line_of(client), f"report.contacts.{client}", f"got {describe(address)}",
                            "expected a contact address, e.g. it@client.example")
        out[client] = address
    return ReportConfig(_string(node, "msp_name", src, "report"), src.resolve(logo) if logo else None, out)


def _defaults(value: Any, src: Source, line: int) -> Defaults:
    node = mapping(value, src, "defaults", line)
    _known(node, src, "defaults", ("forks", "timeout", "connect_timeout"))
    forks = _int(node, "forks", src, "defaults", None, 1, 1000)
    timeout = _number(node, "timeout", src, "defaults", 0.1, 86400.0)
    connect = _number(node, "connect_timeout", src, "defaults", 0.1, 3600.0)
    return Defaults(forks, timeout, connect)


# -- value helpers ----------------------------------------------------------------------------------


def _no_literal_secrets(node: Any, src: Source, path: str) -> None:
    if isinstance(node, MarkedMap):
        for key, value in node.items():
            if is_secret_key(str(key)) and value is not None:
                raise src.error(node.line_of(key), join(path, key), "a secret written as a value is refused",
                                f"expected a reference: {_SECRET_REFS}")
            _no_literal_secrets(value, src, join(path, key))
    elif isinstance(node, MarkedList):
        for index, value in enumerate(node):
            _no_literal_secrets(value, src, f"{path}[{index}]")


def _known(node: MarkedMap, src: Source, path: str, keys: tuple[str, ...] | dict[str, Any]) -> None:
    for key in node:
        if key not in keys:
            raise src.error(node.line_of(key), join(path, key), f"unknown key{did_you_mean(str(key), keys)}",
                            f"expected one of {', '.join(keys)}")


def _items(node: MarkedMap, key: str, src: Source, path: str):  # type: ignore[no-untyped-def]
    value = node.get(key)
    if value is None:
        return
    where = join(path, key)
    if not isinstance(value, MarkedList):
        raise src.error(node.line_of(key), where, f"got {describe(value)}", "expected a list")
    for index, item in enumerate(value):
        yield index, item, f"{where}[{index}]", value.line_of(index)


def _item_line(node: MarkedMap, key: str, index: int) -> int:
    value = node.get(key)
    return value.line_of(index) if isinstance(value, MarkedList) else node.line_of(key)


def _string(node: MarkedMap, key: str, src: Source, path: str, *, required: bool = False) -> Any:
    if key not in node or node[key] is None:
        if required:
            raise src.error(node.line, join(path, key), "missing", f"expected {key}: VALUE")
        return None
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise src.error(node.line_of(key), join(path, key), f"got {describe(value)}", "expected a non-empty string")
    return str(value)


def _strings(node: MarkedMap, key: str, src: Source, path: str) -> list[str]:
    value = node.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, MarkedList) or not all(isinstance(v, str) and v for v in value):
        raise src.error(node.line_of(key), join(path, key), f"got {describe(value)}", "expected a list of names")
    return list(value)


def _int(node: MarkedMap, key: str, src: Source, path: str, default: Any, low: int, high: int) -> Any:
    if key not in node:
        return default
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise src.error(node.line_of(key), join(path, key), f"got {value!r}", f"expected an integer from {low} to {high}")
    return value


def _number(node: MarkedMap, key: str, src: Source, path: str, low: float, high: float) -> float | None:
    if key not in node:
        return None
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise src.error(node.line_of(key), join(path, key), f"got {value!r}", f"expected seconds from {low:g} to {high:g}")
    return float(value)


def parse_duration(text: Any) -> float | None:
    """Seconds for `24h`, `30m`, `90s`, `7d` or a number of seconds; None when it is none of these."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if text >= 0 else None
    m = _DURATION.match(str(text))
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def _duration(node: MarkedMap, key: str, src: Source, path: str, default: Any) -> Any:
    if key not in node or node[key] is None:
        return default
    seconds = parse_duration(node[key])
    if seconds is None:
        raise src.error(node.line_of(key), join(path, key), f"got {node[key]!r}",
                        "expected a duration like 30s, 30m, 24h or 7d")
    return seconds


_MASK = "********"
_ENV_REFS = ("password_env", "secret_env", "urls_env", "url_env")


def masked(data: Any) -> Any:
    """The config data for `config show`: no secret value ever; each env reference says whether it is set,
    a webhook URL keeps only its scheme and host (its path often is the token)."""
    if isinstance(data, list):
        return [masked(v) for v in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _ENV_REFS and isinstance(value, str):
            out[key] = f"{value} ({'set' if os.environ.get(value) else 'not set'})"
        elif key == "url" and isinstance(value, str):
            out[key] = _mask_url(value)
        else:
            out[key] = masked(value)
    return out


def _mask_url(url: str) -> str:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    rest = f"/{_MASK}" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"
