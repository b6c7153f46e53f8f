"""`rmmctl schedule`: the jobs an unattended rmmctl runs, as a crontab or systemd units (pure: no I/O).

Jobs (docs/cron.md): `status all --alert` every 5 minutes, `diagnose all --alert` nightly, one `play` per
distinct maintenance window (the `maintenance_window` var, in the host's `timezone`: inventory/window.py)
at the window's start, and on the 1st of each month the `report` of last month for each client, mailed to
the client's `contact` var. Every job line has absolute paths, `--lock`, `--quiet` and `--log-file`, so
cron mails only when something is wrong and two runs of one job never overlap.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rmmctl.errors import ConfigError
from rmmctl.inventory.conn import BadValue
from rmmctl.inventory.model import Host, Inventory
from rmmctl.inventory.select import select_hosts
from rmmctl.inventory.window import TIMEZONE_VAR, WINDOW_VAR, Window, parse_windows
from rmmctl.probes import platform_of

PLAYBOOK_VAR = "maintenance_playbook"  # which playbook runs in a host's window
DEFAULT_PLAYBOOK = {"windows": "windows-maintenance", "linux": "os-updates", "local": "os-updates"}
CONTACT_VAR = "contact"
NIGHTLY = (1, 30)  # diagnose --alert at 01:30 (this machine's time)
MONTHLY = (6, 0)  # reports at 06:00 on the 1st
CRON_LINE_MAX = 1000  # Vixie cron's (and Debian's) MAX_COMMAND


@dataclass(frozen=True, slots=True)
class Job:
    """One scheduled command. `cron`: the five time fields; `calendar`: systemd OnCalendar=; `argv`: the
    rmmctl arguments after the executable; `shell`: a shell tail (`&& mail ...`), making it a shell line."""

    name: str
    comment: str
    cron: str
    calendar: str
    argv: tuple[str, ...]
    shell: str = ""


@dataclass(frozen=True, slots=True)
class Paths:
    """The absolute paths every line uses."""

    rmmctl: tuple[str, ...]  # the executable (or python -m rmmctl)
    inventory: Path
    log_dir: Path
    report_dir: Path
    db: str | None = None
    config: Path | None = None  # --config given to schedule: every line reads the same file (alerts, branding)


@dataclass(slots=True)
class Plan:
    jobs: list[Job] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # comments: hosts left out and why


def _common(paths: Paths, log: str, lock: str | None = None) -> tuple[str, ...]:
    """-i, --db, --config, --lock (the default name: command, inventory, pattern; or `lock`), --quiet, --log-file."""
    db = ("--db", paths.db) if paths.db else ()
    config = ("--config", str(paths.config)) if paths.config else ()
    return ("-i", str(paths.inventory), *db, *config, f"--lock={lock}" if lock else "--lock", "--quiet",
            "--log-file", str(paths.log_dir / f"{log}.log"))


def _zone(host: Host) -> tzinfo | None:
    raw = host.vars.get(TIMEZONE_VAR)
    try:
        return ZoneInfo(str(raw).strip()) if raw else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local_starts(window: Window, zone: tzinfo | None, now: datetime, here: tzinfo) -> dict[tuple[int, int], set[int]]:
    """{(hour, minute) on this machine: {cron weekdays, 0 = Sunday}} of the window's starts, converted from the
    host's zone at the coming week's dates (so a zone ahead of this one may move a start to the day before)."""
    starts: dict[tuple[int, int], set[int]] = {}
    base = now.astimezone(zone or here)
    for day in sorted(window.days):
        date = (base + timedelta(days=(day - base.weekday()) % 7)).date()
        start = datetime(date.year, date.month, date.day, window.start // 60, window.start % 60, tzinfo=zone or here)
        local = start.astimezone(here)
        starts.setdefault((local.hour, local.minute), set()).add((local.weekday() + 1) % 7)
    return starts


def _dow(days: set[int]) -> str:
    return "*" if len(days) == 7 else ",".join(str(d) for d in sorted(days))


_SYSTEMD_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def _calendar(hour: int, minute: int, days: set[int] | None = None, zone: str | None = None) -> str:
    week = "" if days is None or len(days) == 7 else ",".join(_SYSTEMD_DAYS[d] for d in sorted(days)) + " "
    return f"{week}*-*-* {hour:02d}:{minute:02d}:00{' ' + zone if zone else ''}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "x"


def host_pattern(inventory: Inventory, names: Sequence[str]) -> str:
    """A short pattern selecting exactly `names`: the largest groups (clients, sites, groups) wholly inside
    the set first, then the hosts left, by name (a crontab line has a length limit)."""
    want = set(names)
    members: dict[str, set[str]] = {}
    for group in inventory.groups:
        try:
            members[group] = {h.name for h in select_hosts(inventory, group)}
        except ConfigError:
            continue
    covered: set[str] = set()
    terms: list[str] = []
    for group in sorted(members, key=lambda g: (-len(members[g]), g)):
        if members[group] and members[group] <= want and not members[group] <= covered and group not in want:
            terms.append(group)
            covered |= members[group]
    return ",".join([*terms, *(n for n in names if n not in covered)])


def _playbook(value: str, paths: Paths) -> str:
    """A playbook file named relative to the inventory becomes absolute (cron's working folder is $HOME); a
    shipped playbook's name stays a name."""
    if "/" in value or value.endswith((".yaml", ".yml")):
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else paths.inventory.parent / path)
    return value


def maintenance_jobs(inventory: Inventory, paths: Paths, now: datetime, here: tzinfo) -> tuple[list[Job], list[str]]:
    """One `play` job per distinct (window, time zone, playbook), for the hosts that have it, at its start."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    windows: dict[tuple[str, str, str], tuple[Window, tzinfo | None]] = {}
    notes: list[str] = []
    for host in inventory.hosts.values():
        raw = host.vars.get(WINDOW_VAR)
        if raw in (None, "", []):
            continue
        try:
            parsed = parse_windows(raw)
        except BadValue as bad:
            notes.append(f"{host.name}: bad {WINDOW_VAR} ({bad.problem}): no maintenance job (rmmctl inventory check)")
            continue
        zone = _zone(host)
        playbook = _playbook(str(host.vars.get(PLAYBOOK_VAR) or DEFAULT_PLAYBOOK[platform_of(host)]), paths)
        for window in parsed:
            key = (window.text, str(zone or ""), playbook)
            groups.setdefault(key, []).append(host.name)
            windows[key] = (window, zone)
    jobs: list[Job] = []
    for key, names in groups.items():
        window, zone = windows[key]
        text, zone_name, playbook = key
        where = f" {zone_name}" if zone_name else ""
        short = _slug(Path(playbook).name.removesuffix(".yaml").removesuffix(".yml"))  # a file or a shipped name
        argv = ("play", playbook, host_pattern(inventory, names), "--yes", *_common(paths, f"play-{short}"))
        for i, ((hour, minute), days) in enumerate(sorted(_local_starts(window, zone, now, here).items())):
            name = f"play-{short}-{_slug(text + where)}" + (f"-{i + 1}" if i else "")
            jobs.append(Job(name, f"{playbook} in the window {text}{where}: {', '.join(names)}",
                            f"{minute} {hour} * * {_dow(days)}",
                            _calendar(window.start // 60, window.start % 60,
                                      {(d + 1) % 7 for d in window.days}, zone_name or None) if i == 0 else "",
                            argv))
    return jobs, notes


def report_jobs(inventory: Inventory, paths: Paths) -> tuple[list[Job], list[str]]:
    """On the 1st at 06:00: each client's report of last month as a PDF, mailed to its `contact` var."""
    jobs: list[Job] = []
    notes: list[str] = []
    hour, minute = MONTHLY
    for group in inventory.groups.values():
        if group.kind != "client":
            continue
        out = str(paths.report_dir / f"{group.name}-$(date -d 'last month' +%Y-%m).pdf")
        argv = ("report", "--client", group.name, "--period", "last-month", "-o", "pdf", "--out", out,
                *_common(paths, "report", lock=f"report {group.name}"))  # --client is not in the default name
        contact = group.vars.get(CONTACT_VAR)
        tail = ""
        if isinstance(contact, str) and contact.strip():
            # `;` not `&&`: the report's exit code may be its findings'; a report written is mailed
            tail = (f"; [ -s \"{out}\" ] && mail -s {shlex.quote(f'{group.name}: monthly IT report')} -A \"{out}\" "
                    f"{shlex.quote(contact.strip())} </dev/null")
        else:
            notes.append(f"client {group.name} has no `{CONTACT_VAR}` var: its report is written, not mailed")
        jobs.append(Job(f"report-{_slug(group.name)}", f"monthly report of {group.name}"
                        + (f", mailed to {contact}" if tail else ""), f"{minute} {hour} 1 * *",
                        f"*-*-01 {hour:02d}:{minute:02d}:00", argv, tail))
    return jobs, notes


def plan(inventory: Inventory, paths: Paths, now: datetime, here: tzinfo | None = None) -> Plan:
    """Every job for this inventory (`now` and `here`: the week and the zone the windows convert to)."""
    here = here or now.astimezone().tzinfo
    assert here is not None
    out = Plan()
    out.jobs.append(Job("status", "status with alerts every 5 minutes", "*/5 * * * *", "*:0/5",
                        ("status", "all", "--alert", *_common(paths, "status"))))
    hour, minute = NIGHTLY
    out.jobs.append(Job("diagnose", "nightly diagnose with alerts", f"{minute} {hour} * * *",
                        _calendar(hour, minute), ("diagnose", "all", "--alert", *_common(paths, "diagnose"))))
    for more in (maintenance_jobs(inventory, paths, now, here), report_jobs(inventory, paths)):
        out.jobs.extend(more[0])
        out.notes.extend(more[1])
    return out


def command_line(job: Job, paths: Paths) -> str:
    """The job as one shell line (the `$(date ...)` in a report path stays unquoted, to expand)."""
    words = [*paths.rmmctl, *job.argv]
    line = " ".join(f'"{w}"' if "$(" in w else shlex.quote(w) for w in words)
    return f"{line} {job.shell}" if job.shell else line


def crontab(p: Plan, paths: Paths, user: str | None, env: Sequence[tuple[str, str]] = ()) -> str:
    """A crontab: /etc/cron.d format when `user` is given (a user column), else a user crontab (`crontab -e`).
    `%` is cron's newline: escaped as `\\%`."""
    lines = ["# rmmctl jobs, made by `rmmctl schedule` (docs/cron.md). Cron mails a job's output: rmmctl",
             "# prints only on trouble (--quiet), exit 75 means the previous run of the job still held its lock.",
             "SHELL=/bin/sh", "PATH=/usr/local/bin:/usr/bin:/bin"]
    lines += [f"{k}={v}" for k, v in env]
    lines += [f"# note: {n}" for n in p.notes]
    for job in p.jobs:
        line = " ".join([job.cron, *([user] if user else []), command_line(job, paths).replace("%", "\\%")])
        long = (f"# note: this line is {len(line)} characters; some crons (Vixie, Debian) refuse lines over "
                f"{CRON_LINE_MAX}: group these hosts in the inventory, or use --systemd") if len(line) > CRON_LINE_MAX else ""
        lines += ["", f"# {job.comment}", *([long] if long else []), line]
    return "\n".join(lines) + "\n"


def systemd_units(p: Plan, paths: Paths, user: str | None, env: Sequence[tuple[str, str]] = ()) -> str:
    """One service (Type=oneshot) and one timer per job, each file after a `# file: PATH` line. A job whose
    window starts on different local days is one timer with the host's zone (OnCalendar takes a zone)."""
    out = ["# rmmctl units, made by `rmmctl schedule --systemd` (docs/cron.md): write each file below to the",
           "# path in its `# file:` line, then `systemctl daemon-reload && systemctl enable --now rmmctl-*.timer`."]
    out += [f"# note: {n}" for n in p.notes]
    for job in p.jobs:
        if not job.calendar:
            continue  # the same window's other local start: the one timer (in the host's zone) covers it
        line = command_line(job, paths).replace("%", "%%")  # systemd's specifier character
        exec_line = f"/bin/sh -c {shlex.quote(line)}" if job.shell or "$(" in line else line
        out += ["", f"# file: /etc/systemd/system/rmmctl-{job.name}.service", "[Unit]",
                f"Description=rmmctl: {job.comment}", "", "[Service]", "Type=oneshot",
                *([f"User={user}"] if user else []), *(f"Environment={k}={v}" for k, v in env),
                f"ExecStart={exec_line}", "SuccessExitStatus=75",
                "", f"# file: /etc/systemd/system/rmmctl-{job.name}.timer", "[Unit]",
                f"Description=rmmctl: {job.comment}", "", "[Timer]", f"OnCalendar={job.calendar}",
                "Persistent=true", "", "[Install]", "WantedBy=timers.target"]
    return "\n".join(out) + "\n"


__all__ = ["Job", "Paths", "Plan", "command_line", "crontab", "plan", "systemd_units"]
