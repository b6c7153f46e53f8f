"""Pure parsers for the Linux probe's updates (apt, dnf, yum) and reboot sections."""

from __future__ import annotations

import re

from rmmctl.facts import Package, RebootFacts, UpdatesFacts
from rmmctl.probes import ParseError
from rmmctl.probes.linux.bundle import RawPart, parse_kv, split_parts
from rmmctl.probes.linux.system import lines_of

# apt list --upgradable: "name/suite[,suite] version arch [upgradable from: old]"
_APT_ROW = re.compile(r"^([^/\s]+)/(\S+)\s+(\S+)\s+(\S+)(?:\s+\[upgradable from: ([^\]]+)\])?")
_DNF_STOP = ("Obsoleting Packages", "Security:")
_DNF_SKIP = ("Last metadata expiration check", "Loaded plugins", "Loading mirror speeds")


def parse_updates(body: str) -> UpdatesFacts:
    """`manager=apt|dnf|yum`, `lists_mtime=`, then the `upgradable` (apt) or `check_update` + `security` parts."""
    head, parts = split_parts(body)
    kv = parse_kv(head)
    manager = kv.get("manager", "")
    if manager == "apt":
        packages = parse_apt_upgradable(_part(parts, "upgradable", ok=(0,)).text)
    elif manager in ("dnf", "yum"):
        check = _part(parts, "check_update", ok=(0, 100))
        packages = parse_dnf_check_update(check.text) if check.rc == 100 else []
        security = parts.get("security")
        _mark_security(packages, lines_of(security.text) if security and security.rc == 0 else [])
    else:
        raise ParseError(f"updates: unknown package manager {manager!r}")
    mtime = kv.get("lists_mtime", "")
    return {
        "manager": manager,
        "pending": len(packages),
        "security": sum(1 for p in packages if p["security"]),
        "packages": packages,
        "lists_mtime": int(mtime) if mtime.isdigit() else None,
        "last_install": None,
    }


def _part(parts: dict[str, RawPart], name: str, *, ok: tuple[int, ...]) -> RawPart:
    part = parts.get(name)
    if part is None or part.rc is None:
        raise ParseError(f"updates: the {name} output was cut off")
    if part.rc not in ok:
        why = "timed out" if part.rc == 124 else f"exited {part.rc}"
        first = next((line.strip() for line in lines_of(part.text) if line.strip()), "")
        raise ParseError(f"updates: the package manager {why}" + (f": {first}" if first else ""))
    return part


def parse_apt_upgradable(text: str) -> list[Package]:
    """`apt list --upgradable` rows; a suite ending in -security marks a security update."""
    out: list[Package] = []
    for line in lines_of(text):
        match = _APT_ROW.match(line.strip())
        if not match:
            continue  # "Listing...", warnings
        name, suites, version, _arch, current = match.groups()
        out.append({
            "name": name,
            "version": version,
            "current": current,
            "repo": suites,
            "security": any(s.endswith("-security") for s in suites.split(",")),
        })  # fmt: skip
    return out


def parse_dnf_check_update(text: str) -> list[Package]:
    """`dnf|yum -q check-update` rows `name.arch version repo` (long names wrap onto the next line)."""
    out: list[Package] = []
    words: list[str] = []
    for line in lines_of(text):
        if line.startswith(_DNF_STOP):
            break
        if line.startswith(_DNF_SKIP):
            continue
        words += line.split()
        if len(words) >= 3:
            name, version, repo = words[:3]
            words = []
            if "." in name:
                out.append(
                    {"name": name, "version": version, "current": None, "repo": repo, "security": False}
                )
    return out


def _mark_security(packages: list[Package], advisories: list[str]) -> None:
    """`updateinfo list --security` rows `ADVISORY SEVERITY/Sec. NEVRA`: flag the pending name.arch."""
    flagged: set[str] = set()
    for line in advisories:
        words = line.split()
        if len(words) >= 3:
            nevra = words[-1]
            base, _, arch = nevra.rpartition(".")
            name = base.rsplit("-", 2)[0]
            flagged.add(f"{name}.{arch}")
    for package in packages:
        package["security"] = package["name"] in flagged


def parse_reboot(body: str) -> RebootFacts:
    """`method=reboot-required` + `required=0|1` + `package=` lines, or a `needs_restarting` part."""
    head, parts = split_parts(body)
    kv = parse_kv(head)
    method = kv.get("method", "")
    packages = list(dict.fromkeys(line[8:].strip() for line in head if line.startswith("package=")))
    if method == "reboot-required":
        return {
            "required": kv.get("required") == "1",
            "packages": [p for p in packages if p],
            "method": method,
        }
    if method == "needs-restarting":
        part = parts.get("needs_restarting")
        if part is None or part.rc not in (0, 1):
            raise ParseError(f"reboot: needs-restarting -r failed (exit {part.rc if part else '?'})")
        names = [line.strip()[2:] for line in lines_of(part.text) if line.strip().startswith("* ")]
        return {"required": part.rc == 1, "packages": list(dict.fromkeys(names)), "method": method}
    raise ParseError(f"reboot: unknown method {method!r}")
