"""The POSIX `package_update` module: upgrade installed packages with apt, dnf or yum.

One exec detects the package manager (apt-get, else dnf, else yum), refreshes the package lists (real
mode, `refresh: true`) and plans: `apt-get -s upgrade --with-new-pkgs`, or `dnf|yum check-update` plus
`rpm -qa` for the installed versions. rmmctl picks from that plan (security only, `exclude` globs).
One more exec acts. apt: the exact `apt-get install --only-upgrade NAMES` is simulated (the check-mode
plan, dependencies included; refused if an excluded package would be pulled in), then run, then the
versions are read back with dpkg-query (and the packages' automatic marks put back). dnf/yum: `upgrade`
with the same filters, then `rpm -qa` again (check mode stops after the first exec). What is reported
as upgraded (name, from, to) is what the package database says afterwards. Always non-interactive
(`DEBIAN_FRONTEND=noninteractive`, `-y`, dpkg `--force-confdef --force-confold`). Every value (apt
options, globs) reaches the host shell-quoted. Host vars: `apt_options` (apt `-o` settings, e.g. a
proxy or a security-only sources list) and `apt_config` (an APT_CONFIG file read before apt.conf.d).
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import shlex
from typing import Any

from rmmctl.errors import CommandTimeout
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.probes.linux.bundle import RawPart, parse_kv, split_parts
from rmmctl.probes.linux.packages import parse_dnf_check_update

SHOWN = 5  # packages named in the one-line message
PLAN_LIMIT = 600.0  # seconds for the read/refresh/plan exec when the task sets no `timeout`
UPGRADE_LIMIT = 3600.0  # ... and for the upgrade exec
NOT_ROOT = ("needs root to change packages: connect as root or set `become: true` "
            "(the connection user is {user})")

# `apt-get -s` rows: "Inst NAME [OLD] (NEW ORIGIN[, ORIGIN...] [ARCH])"; ORIGIN is Label:Version/Archive.
_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+)(.*)\)")
_REMV = re.compile(r"^(?:Remv (\S+)(?: \[([^\]]*)\])?|Removing (\S+) \(([^)]*)\))")
_LOCK = re.compile(r"Could not get lock (\S+?)\.? It is held by process (\d+)(?: \(([^)]*)\))?")
_LOCK_OLD = re.compile(r"Could not get lock (\S+?)(?: - open|\.)")


class _Failed(Exception):
    """The module's one-line failure."""


def is_security_origin(origin: str) -> bool:
    """An apt origin `Label:Version/Archive` (or `Label:Archive`) from a security archive."""
    label, _, rest = origin.strip().partition(":")
    archive = rest.rpartition("/")[2]
    return archive.endswith("-security") or label.endswith("-Security")


def parse_apt_sim(text: str) -> list[dict[str, Any]]:
    """`apt-get -s` output -> [{name, from, to, origins, security}] (from None: a new package)."""
    out = []
    for line in text.splitlines():
        m = _INST.match(line.strip())
        if not m:
            continue
        name, old, new, rest = m.groups()
        rest = re.sub(r"\s*\[[^\]]*\]\s*$", "", rest.strip())  # the " [arch]" after the origins
        origins = [o.strip() for o in rest.split(",") if o.strip()]
        out.append({"name": name, "from": old or None, "to": new, "origins": origins,
                    "security": any(is_security_origin(o) for o in origins)})
    return out


def parse_apt_removals(text: str) -> list[dict[str, Any]]:
    """`Remv NAME [VERSION]` rows of an `apt-get -s` run."""
    out = []
    for line in text.splitlines():
        m = _REMV.match(line.strip())
        if m:
            out.append({"name": m.group(1) or m.group(3), "from": m.group(2) or m.group(4) or None, "to": None})
    return out


def parse_kept_back(text: str) -> list[str]:
    """The names under apt's "The following packages have been kept back:" heading."""
    names: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("The following packages have been kept back:"):
            inside = True
        elif inside and line.startswith("  "):
            names += line.split()
        elif inside:
            break
    return names


def parse_versions(text: str) -> dict[str, str]:
    """`NAME<TAB>VERSION` rows (dpkg-query -W, rpm -qa --qf) -> {name: version}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("\t")
        if sep and name and version:
            out[name] = version.strip()
    return out


def rpm_version(evr: str) -> str:
    """rpm's `EPOCHNUM:VERSION-RELEASE` as dnf prints it: the epoch only when it is not 0."""
    epoch, sep, rest = evr.partition(":")
    return rest if sep and epoch == "0" else evr


def parse_dnf_plan(check_update: str, installed: dict[str, str]) -> list[dict[str, Any]]:
    """`dnf|yum -q check-update` rows (name.arch version repo) joined with the installed versions."""
    out = []
    for row in parse_dnf_check_update(check_update):
        old = installed.get(row["name"])
        out.append({"name": row["name"], "from": rpm_version(old) if old else None, "to": row["version"],
                    "origins": [row["repo"]], "security": False})
    return out


def lock_holder(text: str) -> str | None:
    """apt's "Could not get lock PATH. It is held by process PID (NAME)" as one line, or None."""
    m = _LOCK.search(text)
    if m:
        path, pid, name = m.groups()
        return f"{path} is held by process {pid}" + (f" ({name})" if name else "")
    m = _LOCK_OLD.search(text)
    return f"{m.group(1)} is held by another process" if m else None


def _tool_error(text: str, rc: int | None) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("E:", "Error:", "error:"))]
    return ((errors or lines or [f"rc={rc}"])[0])[:200]


def summary(verb: str, packages: list[dict[str, Any]]) -> str:
    """'upgraded 3 packages: openssl 3.0.11 -> 3.0.13, ...' (the first SHOWN, then 'and N more')."""
    shown = [f"{p['name']} {p['from'] or '(new)'} -> {p['to']}" for p in packages[:SHOWN]]
    more = f", and {len(packages) - SHOWN} more" if len(packages) > SHOWN else ""
    noun = "package" if len(packages) == 1 else "packages"
    return f"{verb} {len(packages)} {noun}: {', '.join(shown)}{more}"


def select(plan: list[dict[str, Any]], *, security_only: bool, exclude: list[str]) -> tuple[list, list]:
    """(wanted, excluded): the upgrades of installed packages to make, and those left out by `exclude`."""
    wanted, excluded = [], []
    for p in plan:
        if p["from"] is None or (security_only and not p["security"]):
            continue  # new packages come in as dependencies; non-security ones are not wanted
        (excluded if _excluded(p["name"], exclude) else wanted).append(p)
    return wanted, excluded


def _excluded(name: str, patterns: list[str]) -> bool:
    base = name.split(":")[0]
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(base, g) or
               fnmatch.fnmatchcase(name.rpartition(".")[0], g) for g in patterns)


# ---- the scripts (every variable part is shlex-quoted into them) ----

_PREAMBLE = ("export LC_ALL=C DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none NEEDRESTART_MODE=l; "
             "unset UCF_FORCE_CONFFNEW; N={nonce}; "
             'part() {{ _pn=$1; shift; echo "@@part $_pn$N"; "$@" </dev/null 2>&1; _pr=$?; '
             "printf '\\n@@end %s %s\\n' \"$_pn$N\" \"$_pr\"; }}; ")

_READ = (
    "if command -v apt-get >/dev/null 2>&1; then pm=apt; elif command -v dnf >/dev/null 2>&1; then pm=dnf; "
    "elif command -v yum >/dev/null 2>&1; then pm=yum; else echo pm=none; exit 0; fi; "
    'echo "pm=$pm"; echo "uid=$(id -u)"; echo "user=$(id -un 2>/dev/null)"; '
    'if [ "$(id -u)" != 0 ] && [ {real} = 1 ]; then echo notroot=1; exit 0; fi; '
    'if [ "$pm" = apt ]; then '
    'eval "$(apt-config {apt_o} shell LISTS Dir::State::Lists/d 2>/dev/null)"; '
    '[ -n "$LISTS" ] && [ -d "$LISTS" ] && echo "lists_mtime=$(date -r "$LISTS" +%s)"; '
    "[ {refresh} = 1 ] && part refresh apt-get -q {apt_o} update; "
    "part plan apt-get -q {apt_o} {nocache} -s upgrade --with-new-pkgs; "
    "[ {autoremove} = 1 ] && [ {real} = 0 ] && part autoremove apt-get -q {apt_o} {nocache} -s autoremove; "
    "else "
    '[ {refresh} = 1 ] && part refresh "$pm" -q -y makecache; '
    'part plan "$pm" -q {cache} check-update {dnf_filters}; '
    "part installed rpm -qa --qf '%{{NAME}}.%{{ARCH}}\\t%{{EPOCHNUM}}:%{{VERSION}}-%{{RELEASE}}\\n'; "
    "fi; exit 0"
)

_APT_RUN = (
    "sim=$(apt-get -q {apt_o} {nocache} -s install --only-upgrade {names} </dev/null 2>&1); src=$?; "
    'echo "@@part sim$N"; printf \'%s\\n\' "$sim"; printf \'\\n@@end %s %s\\n\' "sim$N" "$src"; '
    '[ "$src" = 0 ] || exit 0; '
    "bad=$(printf '%s\\n' \"$sim\" | awk -v ex={excl} 'BEGIN {{ n = split(ex, e, \" \"); "
    "for (i = 1; i <= n; i++) x[e[i]] = 1 }} $1 == \"Inst\" && ($2 in x) {{ printf \"%s \", $2 }}'); "
    'if [ -n "$bad" ]; then echo "excluded_pulled=$bad"; exit 0; fi; [ {real} = 1 ] || exit 0; '
    "auto=$(apt-mark {apt_o} showauto {names} 2>/dev/null); "  # `install` would mark them manual: put that back
    "part upgrade apt-get -q -y {apt_o} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
    "install --only-upgrade {names}; "
    '[ -z "$auto" ] || apt-mark {apt_o} auto $auto >/dev/null 2>&1; '
    "[ {autoremove} = 1 ] && part autoremove apt-get -q -y {apt_o} autoremove; "
    'eval "$(apt-config {apt_o} shell STATUS Dir::State::status/f 2>/dev/null)"; ADMIN=${{STATUS%/*}}; '
    "touched=$(printf '%s\\n' \"$sim\" | awk '$1 == \"Inst\" {{ print $2 }}'); "
    'part after dpkg-query --admindir="${{ADMIN:-/var/lib/dpkg}}" -W '
    "-f '${{Package}}\\t${{Version}}\\t${{db:Status-Abbrev}}\\n' $touched; exit 0"
)
_APT_AUTOREMOVE = "part autoremove apt-get -q -y {apt_o} autoremove; exit 0"

_DNF_RUN = (
    "part upgrade {pm} -q -y upgrade {dnf_filters}; "
    "[ {autoremove} = 1 ] && part autoremove {pm} -q -y autoremove; "
    "part after rpm -qa --qf '%{{NAME}}.%{{ARCH}}\\t%{{EPOCHNUM}}:%{{VERSION}}-%{{RELEASE}}\\n'; exit 0"
)


def _apt_words(host_vars: dict[str, Any]) -> str:
    """`-o KEY=VALUE` for each `apt_options` entry (a list, or one string), quoted."""
    raw = host_vars.get("apt_options") or []
    items = [raw] if isinstance(raw, str) else list(raw)
    words: list[str] = []
    for i, item in enumerate(items):
        text = str(item)
        key, sep, _ = text.partition("=")
        if not sep or not key or any(c.isspace() for c in key):
            raise _Failed(f"host var apt_options[{i}] is {text!r}: expected an apt setting KEY=VALUE "
                          "(e.g. Acquire::http::Proxy=http://proxy:3142)")
        words += ["-o", text]
    return shlex.join(words)


def _dnf_filters(args: dict[str, Any]) -> str:
    words = ["--security"] if args["security_only"] else []
    words += [f"--exclude={g}" for g in args["exclude"] or []]
    return shlex.join(words)


def _script(template: str, call: ModuleCall, nonce: str, **more: str) -> str:
    host_vars = dict(call.ctx.host.vars)
    env = ""
    if host_vars.get("apt_config"):
        env = f"APT_CONFIG={shlex.quote(str(host_vars['apt_config']))}; export APT_CONFIG; "
    fields = {"apt_o": _apt_words(host_vars), "refresh": "1" if call.args["refresh"] and not call.check else "0",
              "real": "0" if call.check else "1", "autoremove": "1" if call.args["autoremove"] else "0",
              "nocache": ("-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Dir::Log::Planner="
                          if call.check else ""),
              "cache": "-C" if call.check else "", "dnf_filters": _dnf_filters(call.args), **more}
    return _PREAMBLE.format(nonce=nonce) + env + template.format(**fields)


def _run(call: ModuleCall, script: str, what: str, limit: float) -> tuple[list[str], dict[str, RawPart], str]:
    """Run one script; without a task `timeout` it may take `limit` seconds (not the 60 s command default)."""
    seconds = call.timeout if call.timeout is not None else limit
    try:
        result = call.run(f"sh -c {shlex.quote(script)}", audit_as=what, timeout=seconds)
    except CommandTimeout as exc:
        raise _Failed(f"{what} timed out after {seconds:g} s ({exc}); the package manager may still be running") from None
    head, parts = split_parts(result.stdout)
    if result.exit_code != 0 and not parts:
        raise _Failed(f"{what}: {_tool_error(result.stderr or result.stdout, result.exit_code)}")
    return head, parts, result.stderr


def _part(parts: dict[str, RawPart], name: str, nonce: str, *, ok: tuple[int, ...] = (0,)) -> RawPart | None:
    part = parts.get(name + nonce)
    if part is None:
        return None
    if part.rc is None:
        raise _Failed(f"the {name} step's output was cut off (raise --max-output?)")
    if part.rc not in ok:
        held = lock_holder(part.text)
        if held:
            raise _Failed(f"package manager locked: {held}; nothing upgraded")
        why = "timed out" if part.rc == 124 else f"exited {part.rc}"
        raise _Failed(f"{name} {why}: {_tool_error(part.text, part.rc)}")
    return part


def _package_update(call: ModuleCall) -> TaskResult:
    data: dict[str, Any] = {"packages": []}
    try:
        return _update(call, data)
    except _Failed as exc:
        return TaskResult("failed", f"package_update: {exc}", data)


def _update(call: ModuleCall, data: dict[str, Any]) -> TaskResult:
    args, nonce = call.args, secrets.token_hex(6)
    head, parts, _ = _run(call, _script(_READ, call, nonce), "package_update plan", PLAN_LIMIT)
    kv = parse_kv(head)
    pm = kv.get("pm", "")
    data["manager"] = pm
    if pm == "none" or not pm:
        raise _Failed("no supported package manager on the host (apt-get, dnf, yum)")
    if kv.get("notroot"):
        raise _Failed(NOT_ROOT.format(user=kv.get("user") or f"uid {kv.get('uid', '?')}"))
    if kv.get("lists_mtime", "").isdigit():
        data["lists_mtime"] = int(kv["lists_mtime"])
    _part(parts, "refresh", nonce)
    data["refreshed"] = (parts.get("refresh" + nonce) is not None)
    if pm == "apt":
        plan = parse_apt_sim(_part(parts, "plan", nonce).text)  # type: ignore[union-attr]
        data["kept_back"] = parse_kept_back(parts["plan" + nonce].text)
    else:
        installed = parse_versions(_part(parts, "installed", nonce).text)  # type: ignore[union-attr]
        check = _part(parts, "plan", nonce, ok=(0, 100))
        plan = parse_dnf_plan(check.text if check and check.rc == 100 else "", installed)
        for p in plan:  # dnf filtered --security/--exclude itself
            p["security"] = bool(args["security_only"])
    wanted, excluded = select(plan, security_only=args["security_only"] and pm == "apt",
                              exclude=args["exclude"] or [])
    data["excluded"] = [p["name"] for p in excluded]
    if call.check and (pm != "apt" or not wanted):
        return _planned(call, pm, wanted, plan, parts, nonce, data)
    if not call.check and not wanted and not args["autoremove"]:
        return TaskResult("ok", f"nothing to upgrade ({pm}{'; security only' if args['security_only'] else ''})", data)
    if pm == "apt":
        return _apt_upgrade(call, wanted, excluded, data, parts, nonce)
    return _dnf_upgrade(call, pm, installed, data)


def _planned(call: ModuleCall, pm: str, wanted: list, plan: list, parts: dict, nonce: str,
             data: dict[str, Any]) -> TaskResult:
    names = {p["name"] for p in wanted}
    shown = [_row(p) for p in plan if p["name"] in names]
    data.update(packages=shown, check_mode=True)
    removals = _part(parts, "autoremove", nonce) if pm == "apt" else None
    data["removed"] = parse_apt_removals(removals.text) if removals else []
    note = "; lists not refreshed in check mode" if call.args["refresh"] else ""
    if not shown and not data["removed"]:
        return TaskResult("ok", f"nothing to upgrade ({pm}{note})", data)
    msg = summary("would upgrade", shown) if shown else "nothing to upgrade"
    if data["removed"]:
        msg += f"; would autoremove {len(data['removed'])}"
    return TaskResult("changed", f"{msg} (check mode{note})", data)


def _row(p: dict[str, Any]) -> dict[str, Any]:
    return {"name": p["name"], "from": p["from"], "to": p["to"], "security": p["security"]}


def _apt_upgrade(call: ModuleCall, wanted: list, excluded: list, data: dict[str, Any], first_parts: dict,
                 first_nonce: str) -> TaskResult:
    nonce = secrets.token_hex(6)
    names = [p["name"] for p in wanted]
    script = _script(_APT_RUN if names else _APT_AUTOREMOVE, call, nonce, names=shlex.join(names),
                     excl=shlex.quote(" ".join(p["name"] for p in excluded)))
    head, parts, _ = _run(call, script, f"package_update {'simulate' if call.check else 'upgrade'} {shlex.join(names)}",
                            UPGRADE_LIMIT)
    kv = parse_kv(head)
    sim = _part(parts, "sim", nonce)
    if kv.get("excluded_pulled"):
        raise _Failed(f"excluded package(s) {kv['excluded_pulled'].strip()} would be upgraded as a dependency "
                      "of the others; nothing upgraded (widen exclude or upgrade them)")
    planned = parse_apt_sim(sim.text) if sim else []
    if call.check:  # the exact command's simulation is the plan (dependencies included)
        return _planned(call, "apt", planned, planned, first_parts, first_nonce, data)
    after = {n: v for n, (v, _) in _dpkg_rows(parts.get("after" + nonce)).items()}
    changed = [{**_row(p), "to": after[p["name"]]} for p in planned
               if p["name"] in after and after[p["name"]] != p["from"]]
    try:
        _part(parts, "upgrade", nonce)
        removed = _part(parts, "autoremove", nonce)
    except _Failed as exc:  # what did change before it stopped is still reported
        data["packages"] = changed
        done = f"; {len(changed)} of {len(planned)} upgraded before that" if changed else ""
        return TaskResult("failed", f"package_update: {exc}{done}", data)
    data["removed"] = parse_apt_removals(removed.text) if removed else []
    return _done(call, "apt", changed, data)


def _dpkg_rows(part: RawPart | None) -> dict[str, tuple[str, str]]:
    out = {}
    for line in (part.text if part else "").splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and cols[2].strip().startswith("ii"):
            out[cols[0]] = (cols[1], cols[2])
    return out


def _dnf_upgrade(call: ModuleCall, pm: str, installed: dict[str, str], data: dict[str, Any]) -> TaskResult:
    nonce = secrets.token_hex(6)
    head, parts, _ = _run(call, _script(_DNF_RUN, call, nonce, pm=pm), "package_update upgrade", UPGRADE_LIMIT)
    _part(parts, "upgrade", nonce)
    _part(parts, "autoremove", nonce)
    after = parse_versions(_part(parts, "after", nonce).text)  # type: ignore[union-attr]
    changed, removed = diff_versions(installed, after)
    data["removed"] = removed
    return _done(call, pm, changed, data)


def diff_versions(before: dict[str, str], after: dict[str, str]) -> tuple[list, list]:
    """(upgraded or new, removed) between two {name.arch: epoch:version-release} lists (rpm -qa)."""
    changed = [{"name": n, "from": rpm_version(before[n]) if n in before else None, "to": rpm_version(v),
                "security": False} for n, v in sorted(after.items()) if before.get(n) != v]
    removed = [{"name": n, "from": rpm_version(v), "to": None} for n, v in sorted(before.items()) if n not in after]
    return changed, removed


def _done(call: ModuleCall, pm: str, changed: list, data: dict[str, Any]) -> TaskResult:
    for p in changed:
        p["security"] = p["security"] or bool(call.args["security_only"])
    data["packages"] = changed
    removed = data.get("removed") or []
    if not changed and not removed:
        return TaskResult("ok", f"nothing upgraded ({pm})", data)
    msg = summary("upgraded", changed) if changed else "nothing upgraded"
    if removed:
        msg += f"; autoremoved {len(removed)}: {', '.join(p['name'] for p in removed[:SHOWN])}"
    return TaskResult("changed", msg, data)


def _rules(args: dict[str, Any]) -> None:
    for i, glob in enumerate(args["exclude"] or []):
        if not glob.strip() or "\n" in glob:
            raise ArgProblem(f"exclude[{i}]", f"got {glob!r}", "expected a package name or glob ('linux-image-*')")


register(ModuleSpec(
    "package_update", "posix",
    (Arg("refresh", "bool", default=True, aliases=("update_cache",),
         help="refresh the package lists first (apt-get update / dnf makecache; not in check mode)"),
     Arg("security_only", "bool", default=False, aliases=("security",),
         help="only security updates (apt: a -security archive; dnf/yum: --security)"),
     Arg("autoremove", "bool", default=False, help="then remove packages no longer needed"),
     Arg("exclude", "list", help="package names or globs to leave alone")),
    "plan", _package_update, "upgrade installed packages with apt, dnf or yum (all or security only)",
    validate=_rules,
))
