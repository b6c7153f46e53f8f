#!/usr/bin/env python3
"""Write a demo history for `rmmctl report`: 30 days of an MSP client's three hosts, through the store's
own methods on a moving clock (no host contacted). For screenshots and trying the report out:

    python3 scripts/report_demo_history.py DB [--end UNIX_TIME]
    RMMCTL_DB=DB rmmctl report --period 30d --out report.html

fs01: / filling up (full in some days), a disk warning opened on day 20 and still open; app01: a reboot
warning resolved by a `reboot` play on day 6; db01: unreachable for half a day on day 12, a critical backup
finding resolved by `diagnose --fix` on day 15, a weekly `os-updates` play with a backup_verify task.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from rmmctl.models import HostError, HostResult, RunReport, Status
from rmmctl.store import open_store

DAY = 86400.0
HOSTS = ("fs01.acme.example", "app01.acme.example", "db01.acme.example")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def finding(check: str, severity: str, title: str, evidence: str) -> dict[str, Any]:
    return {"check_id": check, "key": f"{check}:{title}", "severity": severity, "title": title,
            "evidence": [evidence], "remediation": f"see docs/diagnose.md#{check}"}


def samples(name: str, day: float) -> dict[str, float]:
    wave = 8 * math.sin(day * 2.1 + len(name))
    root = {"fs01": 55 + day * 0.9, "app01": 35 + day * 0.1, "db01": 62 + 2 * math.sin(day)}[name[:name.index(".")]]
    return {"disk./.used_pct": round(root, 1), "disk./srv.used_pct": round(40 + day * 0.15, 1),
            "memory.used_pct": round(50 + wave, 1), "updates.pending": float(int(day) % 7),
            "updates.security": float(int(day) % 3), "reboot.required": 1.0 if 4 <= day < 6 and "app01" in name else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--end", type=float, default=None, help="the history's last moment (default: now)")
    args = parser.parse_args(argv)
    end = args.end or time.time()
    start = end - 30 * DAY
    clock = Clock(start)
    with open_store(args.db, clock=clock) as store:
        def run(at: float, command: str, results: list[tuple[HostResult, Any]], playbook: str | None = None,
                tasks: dict[str, list[dict[str, Any]]] | None = None) -> int:
            clock.now = at
            run_id = store.begin_run(command, [command], **({"playbook": playbook} if playbook else {}))
            for result, found in results:
                extra = {"tasks": tasks[result.name]} if tasks and result.name in tasks else {}
                store.add_host_result(run_id, result, findings=found, **extra)
            store.finish_run(run_id, RunReport(command, at, 2.0, tuple(r for r, _ in results)), 0)
            return run_id

        disk = finding("disk.usage", "warning", "filesystem / is 80% full", "/ 80% used of 50G")
        reboot = finding("reboot.required", "warning", "a reboot is pending", "/run/reboot-required exists")
        backup = finding("backup.age", "critical", "backup /srv/backups is 52 hours old",
                         "newest: /srv/backups/db-nightly.tar.zst")
        for step in range(30 * 4):  # status every 6 hours
            day = step / 4
            results = []
            for name in HOSTS:
                if name.startswith("db01") and 12 <= day < 12.34:
                    results.append((HostResult(name, "192.0.2.30", Status.UNREACHABLE,
                                               HostError("connect", "connect to 192.0.2.30:22: timed out")), None))
                else:
                    results.append((HostResult(name, "192.0.2.10", Status.OK,
                                               data={"summary": {"os": "Debian GNU/Linux 12 (bookworm)"},
                                                     "findings": []}, samples=samples(name, day)), None))
            run(start + day * DAY, "status", results)
            if step % 4 == 1:  # a nightly diagnose
                found = {"fs01.acme.example": [disk] if day >= 20 else [],
                         "app01.acme.example": [reboot] if 4 <= day < 6 else [],
                         "db01.acme.example": [backup] if 14 <= day < 15 else []}
                run(start + day * DAY, "diagnose", [
                    (HostResult(n, "192.0.2.10", Status.WARN if f else Status.OK),
                     (["disk.usage", "reboot.required", "backup.age"], f)) for n, f in found.items()
                    if not (n.startswith("db01") and 12 <= day < 12.34)])
            if step == 4 * 6:  # day 6: the reboot play on app01
                run(start + day * DAY - 3600, "play", [(HostResult(HOSTS[1], "192.0.2.10", Status.CHANGED,
                                                                    data={"recap": {"ok": 1, "changed": 1}}), None)],
                    playbook="/usr/share/rmmctl/playbooks/reboot.yaml")
            if step % 28 == 27:  # weekly maintenance with a backup check
                tasks = {n: [{"index": 0, "name": "apt upgrade", "module": "package_update", "status": "changed",
                              "changed": True, "message": "3 upgraded", "duration_s": 20.0},
                             {"index": 1, "name": "verify backups", "module": "backup_verify", "status": "ok",
                              "changed": False, "message": "newest 7 h old, archive ok", "duration_s": 1.5}]
                         for n in HOSTS}
                run(start + day * DAY + 600, "play", [(HostResult(n, "192.0.2.10", Status.CHANGED,
                                                                  data={"recap": {"ok": 1, "changed": 1}}), None)
                                                      for n in HOSTS], playbook="/srv/playbooks/os-updates.yaml",
                    tasks=tasks)
            if step == 4 * 15:  # day 15: diagnose --fix repairs db01's backup
                clock.now = start + day * DAY + 1800
                fix = store.begin_run("fix", ["diagnose", "--fix"])
                store.record_findings(fix, HOSTS[2], ["backup.age"], [backup])
                store.add_host_result(fix, HostResult(HOSTS[2], "192.0.2.30", Status.CHANGED, data={
                    "findings": [], "fix": {"before": [], "plays": [
                        {"playbook": "backup-verify", "mode": "run", "status": "changed", "recap": {}}]}}),
                    findings=(["backup.age"], []))
                store.finish_run(fix, RunReport("fix", clock.now, 30.0, (HostResult(HOSTS[2], "", Status.CHANGED),)), 0)
    print(args.db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
