"""An emulated Windows host for the win_* playbook modules: a FakeWinRM handler over a small Python model.

PowerShell cannot run here, so `WinHost` recognises each module script by its header line
(`# rmmctl-module: NAME@1`), checks that the script is exactly the one rmmctl ships (a script it does not
know is recorded in `.unknown` and fails, rc 1), reads the parameters from the JSON the script gets on
stdin, applies them to the model (services, printers and their jobs, files by path with ages, drivers,
volumes, Defender signatures, the boot time, Windows updates and scheduled tasks) and prints what the
real script prints: the `RMMCTL-MODULE` marker line with base64 of the JSON, in PowerShell 5.1's shapes
(a one-item array printed as a bare object, an empty one as null). `snapshot()` is the model as bytes,
so a test can assert that check mode changed nothing, byte for byte.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from rmmctl.playbooks.win_common import SCRIPTS

from winrm_double import Invocation, Result

_HEADER = re.compile(r"^# rmmctl-module: (\w+)@1$")
SYSROOT = "C:\\Windows"
SPOOL = SYSROOT + "\\System32\\spool\\PRINTERS"


class PSError(Exception):
    """A terminating error in the emulated script: its message is what the real one would say."""


def ps51(value: Any) -> Any:
    """PS 5.1's ConvertTo-Json traps: a one-item array becomes the item, an empty one null (recursively)."""
    if isinstance(value, list):
        items = [ps51(v) for v in value]
        return None if not items else items[0] if len(items) == 1 else items
    if isinstance(value, dict):
        return {k: ps51(v) for k, v in value.items()}
    return value


def frame(doc: Any) -> str:
    return "RMMCTL-MODULE " + base64.b64encode(json.dumps(doc, ensure_ascii=False).encode("utf-8")).decode()


@dataclass
class WinModel:
    services: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "Spooler": {"display": "Print Spooler", "status": "Running", "start_type": "Automatic", "delayed": False},
        "wuauserv": {"display": "Windows Update", "status": "Running", "start_type": "Manual", "delayed": False},
        "W32Time": {"display": "Windows Time", "status": "Stopped", "start_type": "Manual", "delayed": False}})
    printers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {driver, status}
    jobs: list[dict[str, Any]] = field(default_factory=list)  # {printer, id, document, status, age_s, size, files}
    drivers: list[str] = field(default_factory=lambda: ["Microsoft IPP Class Driver"])
    driver_store: list[str] = field(default_factory=list)  # .inf paths that exist on the host
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {data: base64, age_s, locked}
    users: list[str] = field(default_factory=lambda: ["rmm"])
    volumes: list[dict[str, Any]] = field(default_factory=list)  # {letter, label, fs, media}
    optimized: list[str] = field(default_factory=list)  # "retrim C" ...
    defender: dict[str, Any] | None = field(default_factory=lambda: {
        "version": "1.401.100.0", "age_s": 5 * 86400, "server": "1.401.200.0", "cmdlet_fails": False})
    boot: str = "2026-12-01T06:00:00.0000000Z"
    reboots: int = 0
    pending_boot: str | None = None  # rebooting: the boot time it will have once it is back
    updates: list[dict[str, Any]] = field(default_factory=list)  # {id, title, kb, categories, installed, reboot}
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # scheduled tasks registered
    links: list[str] = field(default_factory=list)  # folders that are junctions (win_cleanup never enters them)
    wu_task_crashes: bool = False  # the update task ends (exit 0x1) without writing its result file
    ran: list[str] = field(default_factory=list)  # programs and PowerShell the host ran (win_command, win_shell)
    # What the printers probe sees (printers_section): drivers whose plug-in fails to load at every spooler
    # start (an 808 then), their INF in the driver store, PrintService events, when the spooler started.
    broken_drivers: list[str] = field(default_factory=list)
    driver_infs: dict[str, str] = field(default_factory=dict)
    print_events: list[dict[str, Any]] = field(default_factory=list)  # {at (unix), id, driver, message}
    spooler_started: float | None = None

    def spooler_loads(self) -> None:
        """The spooler (re)started now: each broken driver a printer uses fails to load again (an 808)."""
        # the facts keep whole seconds: a restart is at least 2 s after the last, as on a real host (stop, start)
        self.spooler_started = max(time.time(), (self.spooler_started or 0) + 2)
        used = {v["driver"] for v in self.printers.values()}
        for d in self.broken_drivers:
            if d in used:
                dll = f"C:\\Windows\\system32\\spool\\DRIVERS\\x64\\3\\{d.split()[0].lower()}ui.dll"
                self.print_events.append({"at": self.spooler_started + 1, "id": 808, "driver": d, "module": dll,
                                          "message": f"The print spooler failed to load a plug-in module {dll}, "
                                                     "error code 0x7e. See the event user data for context "
                                                     "information."})

    def key(self, path: str) -> str | None:
        """The stored path equal to `path` ignoring case (Windows paths), if any."""
        low = path.lower()
        return next((p for p in self.files if p.lower() == low), None)

    def under(self, folder: str) -> list[str]:
        low = folder.lower().rstrip("\\") + "\\"
        return [p for p in self.files if p.lower().startswith(low)]

    def put(self, path: str, data: bytes, age_s: int = 0) -> None:
        old = self.key(path)
        if old is not None:
            del self.files[old]
        self.files[path] = {"data": base64.b64encode(data).decode(), "age_s": age_s, "locked": False}

    def content(self, path: str) -> bytes | None:
        k = self.key(path)
        return None if k is None else base64.b64decode(self.files[k]["data"])

    def spool_file(self, name: str, age_s: int, size: int = 2048) -> None:
        self.put(f"{SPOOL}\\{name}", b"x" * size, age_s)

    def snapshot(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


class WinHost:
    """The FakeWinRM handler: `WinHost(model)`; `.calls` are (module, params) in order."""

    def __init__(self, model: WinModel | None = None, *, other: Callable[[Invocation], Result] | None = None) -> None:
        self.model = model or WinModel()
        self.other = other
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unknown: list[str] = []
        self.boot_reads_until_new = 1  # after a reboot: how many boot reads still see the old boot time
        self.server: Any = None  # the FakeWinRM serving this host: a reboot drops its shells, as Windows does

    def __call__(self, inv: Invocation) -> Result:
        script = inv.script
        m = _HEADER.match(script.split("\n", 1)[0])
        if not m:
            if self.other is not None:
                return self.other(inv)
            self.unknown.append(script[:200])
            return Result(stderr="the double does not know this script", rc=1)
        name = m.group(1)
        if SCRIPTS.get(name) != script:
            self.unknown.append(f"{name}: not the script rmmctl ships")
            return Result(stderr=f"the double does not know this {name} script", rc=1)
        head, _, payload = (inv.data or "null").partition("\n")  # the JSON line, then the payload
        params = json.loads(head)
        if payload:
            params["$Payload"] = payload
        self.calls.append((name, params))
        try:
            data = getattr(self, name)(params)
        except PSError as exc:
            return Result(stdout=frame({"ok": False, "error": str(exc), "line": "1"}) + "\r\n", rc=1)
        return Result(stdout=frame(ps51({"ok": True, "data": data})) + "\r\n", rc=0)

    # ---- win_command / win_shell / win_copy ---------------------------------------------------------
    def _gate(self, p: dict[str, Any]) -> dict[str, Any] | None:
        if p.get("creates") and (self.model.key(p["creates"]) or self.model.under(p["creates"])):
            return {"ran": False, "why": "creates"}
        if p.get("removes") and not (self.model.key(p["removes"]) or self.model.under(p["removes"])):
            return {"ran": False, "why": "removes"}
        if p.get("check"):
            return {"ran": False, "why": "check"}
        return None

    def win_command(self, p: dict[str, Any]) -> dict[str, Any]:
        gate = self._gate(p)
        if gate:
            return gate
        words = split_windows(p["args"])
        self.model.ran.append(json.dumps([p["exe"], *words]))
        if p["exe"] == "touch":  # a test program: creates each file it is given
            for w in words:
                self.model.put(w, b"")
            return {"ran": True, "rc": 0, "stdout": "", "stderr": ""}
        if p["exe"] == "echoargs":  # prints each argument it got on its own line
            return {"ran": True, "rc": 0, "stdout": "\r\n".join(words), "stderr": ""}
        if p["exe"] == "fail":
            return {"ran": True, "rc": 3, "stdout": "", "stderr": "it failed"}
        raise PSError(f"no program {p['exe']} (not found on PATH)")

    def win_shell(self, p: dict[str, Any]) -> dict[str, Any]:
        gate = self._gate(p)
        if gate:
            return gate
        self.model.ran.append(p["cmd"])
        return {"ran": True, "rc": 0, "stdout": f"ran: {p['cmd']}", "stderr": ""}

    def win_copy(self, p: dict[str, Any]) -> dict[str, Any]:
        dest = p["dest"]
        old = self.model.content(dest)
        if old is None and self.model.under(dest):
            raise PSError(f"{dest} is a folder")
        before = hashlib.sha256(old).hexdigest() if old is not None else None
        if before == p["sha256"] or p["check"]:
            return {"sha256_before": before, "written": False}
        data = base64.b64decode(p["$Payload"].strip())
        self.model.put(dest, data)
        return {"sha256_before": before, "sha256_after": hashlib.sha256(data).hexdigest(), "written": True}

    # ---- win_service ---------------------------------------------------------------------------------
    def _service(self, name: str) -> dict[str, Any]:
        for n, s in self.model.services.items():
            if n.lower() == name.lower():
                return s
        raise PSError(f"Cannot find any service with service name '{name}'.")

    def win_service(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["name"]
        s = self._service(name)
        for a in p["actions"]:
            if a == "start":
                if s["start_type"] == "Disabled":
                    raise PSError(f"Service '{name}' cannot be started due to the following error: Cannot start "
                                  f"service {name} on computer '.'.")
                if name.lower() == "spooler" and s["status"] != "Running":
                    self.model.spooler_loads()
                s["status"] = "Running"
            elif a == "stop":
                s["status"] = "Stopped"
            elif a == "restart":
                if name.lower() == "spooler":
                    self.model.spooler_loads()
                s["status"] = "Running"
                s["restarts"] = s.get("restarts", 0) + 1
            elif a.startswith("mode:"):
                s["start_type"], s["delayed"] = {"auto": ("Automatic", False), "delayed-auto": ("Automatic", True),
                                                 "demand": ("Manual", False), "disabled": ("Disabled", False)}[a[5:]]
        real = next(n for n in self.model.services if n.lower() == name.lower())
        return {"name": real, "display": s["display"], "status": s["status"], "start_type": s["start_type"],
                "delayed": s["delayed"]}

    # ---- win_printer ---------------------------------------------------------------------------------
    def _printer_state(self, inf: str | None) -> dict[str, Any]:
        sp = self.model.services["Spooler"]
        running = sp["status"] == "Running"
        printers = [{"name": n, "driver": v["driver"], "status": v["status"],
                     "jobs": sum(1 for j in self.model.jobs if j["printer"] == n)}
                    for n, v in self.model.printers.items()] if running else []
        jobs = [{k: j[k] for k in ("printer", "id", "document", "status", "age_s", "size")}
                for j in self.model.jobs] if running else []
        spool = [{"name": p.rsplit("\\", 1)[1], "age_s": f["age_s"], "size": len(base64.b64decode(f["data"]))}
                 for p, f in self.model.files.items() if p.rsplit("\\", 1)[0].lower() == SPOOL.lower()]
        return {"spooler": {"status": sp["status"], "start_type": sp["start_type"]}, "printers": printers,
                "jobs": jobs, "spool": spool, "drivers": list(self.model.drivers) if running else [],
                "inf_exists": (inf in self.model.driver_store) if inf else None}

    def _spooler_up(self) -> None:
        sp = self.model.services["Spooler"]
        if sp["start_type"] == "Disabled":
            sp["start_type"] = "Automatic"
        if sp.get("broken"):
            raise PSError("Service 'Print Spooler (Spooler)' start failed.")
        sp["status"] = "Running"
        self.model.spooler_loads()
        names = {p.rsplit("\\", 1)[1] for p in self.model.under(SPOOL)}
        self.model.jobs = [j for j in self.model.jobs if all(f in names for f in j.get("files", []))]

    def win_printer(self, p: dict[str, Any]) -> dict[str, Any]:
        acts = []
        m = self.model
        for a in p["actions"]:
            res: dict[str, Any] = {"op": a["op"], "ok": True, "error": None, "removed": [], "bytes": 0}
            try:
                op = a["op"]
                if op == "stop_spooler":
                    m.services["Spooler"]["status"] = "Stopped"
                elif op == "clear_files":
                    if m.services["Spooler"]["status"] != "Stopped":
                        raise PSError("the spooler holds the files: stop it first")
                    left = []
                    for path in m.under(SPOOL):
                        f = m.files[path]
                        if a["minutes"] > 0 and f["age_s"] < a["minutes"] * 60:
                            continue
                        if f["locked"]:
                            left.append(f"{path.rsplit(chr(92), 1)[1]}: in use")
                            continue
                        res["removed"].append(path.rsplit("\\", 1)[1])
                        res["bytes"] += len(base64.b64decode(f["data"]))
                        del m.files[path]
                    if left:
                        raise PSError(f"could not remove {'; '.join(left)}")
                elif op == "start_spooler":
                    self._spooler_up()
                elif op == "restart_spooler":
                    m.services["Spooler"]["status"] = "Stopped"
                    self._spooler_up()
                    m.services["Spooler"]["restarts"] = m.services["Spooler"].get("restarts", 0) + 1
                elif op == "add_driver":
                    if a["inf"] not in m.driver_store:
                        raise PSError(f"pnputil /add-driver: exit 2 Failed to add driver package: {a['inf']} not found")
                    if a["driver"] not in m.drivers:
                        m.drivers.append(a["driver"])
                    if m.driver_infs.get(a["driver"], a["inf"]).lower() == a["inf"].lower() and \
                            a["driver"] in m.broken_drivers:  # reinstalled from its own INF: it loads again
                        m.broken_drivers.remove(a["driver"])
                elif op == "set_driver":
                    if a["driver"] not in m.drivers:
                        raise PSError("The specified driver does not exist.")
                    self._printer(a["printer"])["driver"] = a["driver"]
                elif op in ("resume", "pause"):
                    self._printer(a["printer"])["status"] = "Normal" if op == "resume" else "Paused"
                else:
                    raise PSError(f"unknown action {op}")
            except PSError as exc:
                res.update(ok=False, error=str(exc))
            acts.append(res)
        return {"acts": acts, "state": self._printer_state(p.get("inf"))}

    def _printer(self, name: str) -> dict[str, Any]:
        if self.model.services["Spooler"]["status"] != "Running":
            raise PSError("The spooler service is not reachable.")
        if name not in self.model.printers:
            raise PSError(f"no printer {name}")
        return self.model.printers[name]

    # ---- win_cleanup / win_defender_update / win_optimize_volume -------------------------------------
    def win_cleanup(self, p: dict[str, Any]) -> dict[str, Any]:
        m = self.model
        roots: list[tuple[str, str]] = []
        if p["temp"]:
            roots.append((SYSROOT + "\\Temp", "temp"))
            roots += [(f"C:\\Users\\{u}\\AppData\\Local\\Temp", "temp") for u in m.users]
        if p["wu"]:
            roots.append((SYSROOT + "\\SoftwareDistribution\\Download", "wu"))
        if p["spool"]:
            roots.append((SPOOL, "spool"))
        env = {"%TEMP%": f"C:\\Users\\{m.users[0]}\\AppData\\Local\\Temp", "%SYSTEMROOT%": SYSROOT}
        for path in p["paths"]:
            for var, value in env.items():
                path = re.sub(re.escape(var), lambda _m, v=value: v, path, flags=re.I)
            roots.append((path, "path"))
        out = []
        for path, kind in roots:
            row: dict[str, Any] = {"path": path, "kind": kind, "files": 0, "bytes": 0, "sample": [], "skipped": None,
                                   "removed": 0, "freed": 0, "in_use": 0}
            out.append(row)
            if kind == "wu" and m.services["wuauserv"]["status"] != "Stopped":
                row["skipped"] = f"wuauserv is {m.services['wuauserv']['status']}"
                continue
            found = m.under(path)
            if not found:
                row["skipped"] = "no such folder"
                continue
            for f in found:
                if any(f.lower().startswith(link.lower().rstrip("\\") + "\\") for link in m.links):
                    continue  # behind a junction: the script's walk does not descend there
                entry = m.files[f]
                if entry["age_s"] < p["older_than_days"] * 86400:
                    continue
                size = len(base64.b64decode(entry["data"]))
                row["files"] += 1
                row["bytes"] += size
                if len(row["sample"]) < p["listed"]:
                    row["sample"].append(f)
                if p["delete"]:
                    if entry["locked"]:
                        row["in_use"] += 1
                    else:
                        del m.files[f]
                        row["removed"] += 1
                        row["freed"] += size
        return {"roots": out}

    def win_defender_update(self, p: dict[str, Any]) -> dict[str, Any]:
        d = self.model.defender
        if d is None:
            return {"absent": True}

        def sig() -> dict[str, Any]:
            return {"version": d["version"], "updated": f"@{d['age_s']}", "age_s": d["age_s"], "enabled": True}
        before = sig()
        if not p["update"]:
            return {"before": before}
        method, first = "Update-MpSignature", None
        if d["cmdlet_fails"]:
            method, first = "MpCmdRun -SignatureUpdate", "Update-MpSignature failed: 0x80070652"
        if d["server"] != d["version"]:
            d["version"], d["age_s"] = d["server"], 0
        return {"before": before, "after": sig(), "method": method, "first_error": first}

    def win_optimize_volume(self, p: dict[str, Any]) -> dict[str, Any]:
        vols = [v for v in self.model.volumes if not p["letters"] or v["letter"] in p["letters"]]
        done = []
        for op in p["ops"]:
            self.model.optimized.append(f"{op['op']} {op['letter']}")
            verb = "retrim" if op["op"] == "retrim" else "defrag"
            done.append({"letter": op["letter"], "op": op["op"], "ok": True, "error": None,
                         "lines": [f"Invoking {verb} on ({op['letter']}:)...", f"{verb.capitalize()}:  100% complete."]})
        return {"volumes": copy.deepcopy(vols), "done": done}

    # ---- win_reboot ------------------------------------------------------------------------------------
    def win_reboot(self, p: dict[str, Any]) -> dict[str, Any]:
        m = self.model
        if p["op"] == "boot":
            if m.pending_boot:
                if self.boot_reads_until_new > 0:
                    self.boot_reads_until_new -= 1
                    raise PSError("The RPC server is unavailable.")  # going down: no answer yet
                m.boot, m.pending_boot = m.pending_boot, None
            return {"boot": m.boot}
        if p["op"] == "reboot":
            m.reboots += 1
            if self.server is not None:  # every shell dies with the host; the next request on one is a fault
                with self.server.lock:
                    self.server.shells.clear()
            m.pending_boot = f"2026-12-02T0{m.reboots % 10}:00:00.0000000Z"
            for s in m.services.values():  # a boot starts the automatic services
                if s["start_type"] == "Automatic":
                    s["status"] = "Running"
            for u in m.updates:
                if u.get("installed"):
                    u["pending_reboot"] = False
            return {"started": True}
        return {"rc": 0, "out": "win01\\rmm"}


    # ---- win_updates ----------------------------------------------------------------------------------
    def win_updates(self, p: dict[str, Any]) -> dict[str, Any]:
        from rmmctl.playbooks.win_updates import WORKER

        m = self.model
        base = "C:\\ProgramData\\rmmctl\\"
        if p["op"] == "search":
            want = {c.replace(" ", "").lower() for c in p["categories"]}
            return {"updates": [{"id": u["id"], "title": u["title"], "kb": u["kb"], "categories": u["categories"],
                                 "selected": any(c.replace(" ", "").lower() in want for c in u["categories"]),
                                 "reboot": u["reboot"], "size": 1000} for u in m.updates if not u.get("installed")],
                    "reboot_pending": any(u.get("pending_reboot") for u in m.updates)}
        task = p["task"]
        if p["op"] == "start":
            if p["worker"] != WORKER:
                self.unknown.append("win_updates: not the worker rmmctl ships")
                raise PSError("unknown worker")
            m.put(f"{base}{task}.ps1", p["worker"].encode())
            m.put(f"{base}{task}.json", json.dumps({"ids": p["ids"]}).encode())
            m.tasks[task] = {"path": "\\rmmctl\\", "user": "SYSTEM", "run_level": "Highest", "state": "Running",
                             "ids": p["ids"], "polls": 0, "last_result": 267009}
            return {"task": task, "result": f"{base}{task}.result.json"}
        t = m.tasks.get(task)
        if p["op"] == "poll":
            if t is None:
                return {"exists": False, "state": "", "last_result": None, "result": None}
            t["polls"] += 1
            if t["polls"] >= 2 and t["state"] == "Running" and m.wu_task_crashes:
                t.update(state="Ready", last_result=1)
            if t["polls"] >= 2 and t["state"] == "Running":  # the first poll sees it running
                done = []
                for u in m.updates:
                    if u["id"] in t["ids"]:
                        ok = not u.get("fails")
                        u["installed"] = ok
                        u["pending_reboot"] = ok and u["reboot"]
                        done.append({"id": u["id"], "title": u["title"], "result": 2 if ok else 4,
                                     "hresult": 0 if ok else -2145124329})
                doc = ps51({"done": True, "result": 2, "reboot": any(u.get("pending_reboot") for u in m.updates),
                            "updates": done})
                m.put(f"{base}{task}.result.json", json.dumps(doc, separators=(",", ":")).encode())
                t.update(state="Ready", last_result=0)
            raw = m.content(f"{base}{task}.result.json")
            return {"exists": True, "state": t["state"], "last_result": t["last_result"],
                    "result": raw.decode() if raw is not None else None}
        m.tasks.pop(task, None)
        for f in (f"{base}{task}.ps1", f"{base}{task}.json", f"{base}{task}.result.json"):
            k = m.key(f)
            if k:
                del m.files[k]
        return {"removed": True}


def split_windows(line: str) -> list[str]:
    """CommandLineToArgvW's split (the inverse of subprocess.list2cmdline)."""
    out, cur, i, quoted, has = [], [], 0, False, False
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = 0
            while i < len(line) and line[i] == "\\":
                n += 1
                i += 1
            if i < len(line) and line[i] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += 1
            else:
                cur.append("\\" * n)
            has = True
            continue
        if c == '"':
            quoted = not quoted
            has = True
        elif c in " \t" and not quoted:
            if has:
                out.append("".join(cur))
            cur, has = [], False
        else:
            cur.append(c)
            has = True
        i += 1
    if has:
        out.append("".join(cur))
    return out


assert split_windows(subprocess.list2cmdline(['a b', 'c"d', 'e\\', '$(x); y'])) == ['a b', 'c"d', 'e\\', '$(x); y']


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def printers_section(model: WinModel) -> Any:
    """The printers probe's data as printers.ps1 would print it for this model (PS 5.1 shapes), so a
    `diagnose` after a play sees what the play changed (ProbeHost(live={"printers": ...}))."""
    now = max(time.time(), (model.spooler_started or 0) + 1)  # the host's clock (see spooler_loads)
    sp = model.services["Spooler"]
    running = sp["status"] == "Running"
    spool = [(path, f) for path, f in model.files.items() if path.rsplit("\\", 1)[0].lower() == SPOOL.lower()]
    oldest = max((f["age_s"] for _, f in spool), default=None)
    doc = {
        "now": _iso(now),
        "spooler": {"status": sp["status"], "start_type": sp["start_type"], "display_name": sp["display"],
                    "started": _iso(model.spooler_started) if running else None},
        "crashes": [],
        "printers": [{"name": n, "driver": v["driver"], "port": "IP_192.0.2.40", "port_host": "192.0.2.40",
                      "shared": True, "type": "Local", "status": v["status"],
                      "jobs": sum(1 for j in model.jobs if j["printer"] == n), "location": None, "comment": None}
                     for n, v in model.printers.items()] if running else None,
        "printers_error": None if running else "The spooler service is not reachable.",
        "drivers": [{"name": d, "manufacturer": d.split()[0], "major_version": 3, "environment": "Windows x64",
                     "inf_path": model.driver_infs.get(d), "version": "1.0.0.0", "isolation": None,
                     "files": [f"{d.split()[0].lower()}ui.dll"]} for d in model.drivers] if running else None,
        "jobs": [{"id": j["id"], "printer": j["printer"], "document": j["document"], "user": "anna",
                  "status": j["status"], "submitted": _iso(now - j["age_s"]), "size": j["size"], "pages": 1}
                 for j in model.jobs] if running else [],
        "events": [{"time": _iso(e["at"]), "id": e["id"], "level": 2, "message": e["message"],
                    "params": [e["module"], "0x7e"]} for e in model.print_events],
        "spool": {"files": len(spool), "bytes": sum(len(base64.b64decode(f["data"])) for _, f in spool),
                  "oldest": _iso(now - oldest) if oldest is not None else None},
    }
    return ps51(doc)
