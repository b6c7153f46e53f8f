"""POSIX maintenance modules: `backup_verify`, `fstrim`, `av_update` (ClamAV's freshclam).

Each reads the host in one exec of a small sh script whose parameters are positional words (quoted),
so a templated value is data. `backup_verify` only reads (it runs in check mode too); `fstrim` plans
from `fstrim --dry-run` (all filesystems) or findmnt + lsblk's discard columns (given mount points);
`av_update` reads the signature databases through the probe's av section (the same facts the
`av.clamav_age` check judges) before and after freshclam.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from rmmctl.errors import CommandTimeout
from rmmctl.facts import unavailable_reason
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register

SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
GLOB_CHARS = frozenset("*?[")
# test_archive: the tool by the newest file's name (sh `case`, first match wins; lower-case suffixes).
ARCHIVE_SUFFIXES = {
    "tar": (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".tar.bz2", ".tbz2"),
    "gzip": (".gz",), "zstd": (".zst",), "xz": (".xz",), "bzip2": (".bz2",),
}
_CASES = "\n".join(f"    {'|'.join('*' + x for x in sfx)}) X={tool} ;;" for tool, sfx in ARCHIVE_SUFFIXES.items())


def _last(result: Any) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return (text[-1] if text else f"rc={result.exit_code}")[:200]


def _kv(stdout: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key not in out:
            out[key] = value
    return out


# ---------------------------------------------------------------- backup_verify

def archive_test(name: str) -> str | None:
    """The test_archive tool for a file name (tar, gzip, zstd, xz, bzip2), or None (what the script decides)."""
    for tool, suffixes in ARCHIVE_SUFFIXES.items():
        if name.endswith(suffixes):
            return tool
    return None


# sh -c SCRIPT sh PATH GLOB(0|1) CHECKSUM(''|sum|sidecar) TEST(''|tar|gzip|zstd|xz|bzip2|auto)
# Candidates: the file itself, a directory's regular files up to 3 levels deep (as the backup check's
# probe), or the files a glob matches; `*.sha256` sidecars never count as a backup.
_BACKUP_SCRIPT = r'''
P=$1 G=$2 C=$3 X=$4
LC_ALL=C; export LC_ALL
echo "now=$(date +%s)"
list() {
  if [ "$G" = 1 ]; then
    IFS=; for f in $P; do [ -f "$f" ] && stat -L -c '%Y %s %n' -- "$f"; done; unset IFS
  elif [ -d "$P" ]; then find "${P%/}/" -maxdepth 3 -type f ! -name '*.sha256' -exec stat -c '%Y %s %n' {} + 2>/dev/null
  elif [ -f "$P" ]; then stat -L -c '%Y %s %n' -- "$P"
  fi
}
if [ "$G" != 1 ] && [ ! -e "$P" ]; then echo "kind=missing"; exit 0; fi
if [ "$G" = 1 ]; then echo "kind=glob"; elif [ -d "$P" ]; then echo "kind=dir"; elif [ -f "$P" ]; then echo "kind=file"; else echo "kind=other"; exit 0; fi
L=$(list | grep -v '\.sha256$' | sort -rn)
echo "files=$(printf '%s' "$L" | grep -c .)"
N=$(printf '%s\n' "$L" | head -n 1)
[ -n "$N" ] || exit 0
echo "newest=$N"
F=${N#* }; F=${F#* }
if head -c 1 -- "$F" >/dev/null 2>&1; then echo "readable=1"; else echo "readable=0"; fi
if [ -n "$C" ]; then
  s=$(sha256sum < "$F" 2>/dev/null | cut -c1-64); echo "sha256=$s"
  if [ "$C" = sidecar ]; then
    if [ -r "$F.sha256" ]; then echo "sidecar=$(head -n 1 -- "$F.sha256" | cut -c1-64)"; else echo "sidecar="; fi
  fi
fi
if [ -n "$X" ]; then
  case $F in
@CASES@
    *) X=unknown ;;
  esac
  out=; rc=0
  case $X in
    tar) out=$(tar -tf "$F" 2>&1 >/dev/null) ;;
    gzip) out=$(gzip -t -- "$F" 2>&1) ;;
    zstd) out=$(zstd -q -t -- "$F" 2>&1) ;;
    xz) out=$(xz -t -- "$F" 2>&1) ;;
    bzip2) out=$(bzip2 -t -- "$F" 2>&1) ;;
  esac
  rc=$?
  echo "test=$X $rc"; printf 'test_said=%s\n' "$(printf '%s' "$out" | tail -n 1 | cut -c1-200)"
fi
'''.replace("@CASES@", _CASES)


def _backup_verify(call: ModuleCall) -> TaskResult:
    args = call.args
    path = args["path"]
    checksum = args["checksum"]
    mode = "" if not checksum else ("sidecar" if str(checksum).lower() == "sidecar" else "sum")
    words = [path, "1" if any(c in GLOB_CHARS for c in path) else "0", mode, "auto" if args["test_archive"] else ""]
    facts = _backup_read(call, f"sh -c {shlex.quote(_BACKUP_SCRIPT)} sh {shlex.join(words)}", path)
    if isinstance(facts, TaskResult):
        return facts
    return judge_backup(facts, args)


def _backup_read(call: ModuleCall, line: str, path: str) -> dict[str, str] | TaskResult:
    try:
        result = call.run(line, audit_as=f"backup_verify {shlex.quote(path)}")
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}", {"path": path})
    facts = _kv(result.stdout)
    if result.exit_code != 0 or "now" not in facts:
        return TaskResult("failed", f"cannot read {path}: {_last(result)}", {"path": path})
    return facts


def judge_backup(facts: dict[str, str], args: dict[str, Any]) -> TaskResult:
    """The verdict on the script's answer: ok with the newest file, its age and size, or failed with why."""
    path = args["path"]
    kind = facts.get("kind", "missing")
    data: dict[str, Any] = {"path": path, "kind": kind, "files": int(facts.get("files") or 0)}
    if kind == "missing":
        return TaskResult("failed", f"backup {path} does not exist", data)
    if kind == "other":
        return TaskResult("failed", f"backup {path} is neither a file nor a directory", data)
    if "newest" not in facts:
        what = "matches no file" if kind == "glob" else "holds no files"
        return TaskResult("failed", f"backup {path} {what}", data)
    mtime, size, name = (facts["newest"].split(" ", 2) + ["", ""])[:3]
    age_h = (int(facts["now"]) - int(mtime)) / 3600
    data.update(newest=name, mtime=int(mtime), size=int(size), age_hours=round(age_h, 2),
                readable=facts.get("readable") == "1")
    head = f"{name}: {int(size)} bytes, {age_h:.1f} h old"
    problems = []
    if not data["readable"]:
        problems.append("not readable")
    if args["max_age_hours"] is not None and age_h > float(args["max_age_hours"]):
        problems.append(f"older than {float(args['max_age_hours']):g} h")
    if int(size) < int(args["min_size_bytes"]):
        problems.append(f"smaller than {args['min_size_bytes']} bytes")
    problems += _checksum_problems(facts, args, data)
    if "test" in facts:
        tool, _, rc = facts["test"].partition(" ")
        data["test_archive"] = {"tool": tool, "rc": int(rc) if rc.isdigit() else None}
        if tool == "unknown":
            problems.append("test_archive: unknown archive type (known: "
                            + " ".join(x for sfx in ARCHIVE_SUFFIXES.values() for x in sfx) + ")")
        elif rc != "0":
            said = facts.get("test_said", "")
            problems.append(f"{tool} test failed" + (f": {said}" if said else f" (rc={rc})"))
    if problems:
        return TaskResult("failed", f"{head}: {'; '.join(problems)}"[:300], data)
    checks = [w for w, on in (("sha256 ok", "sha256_ok" in data), ("archive ok", "test_archive" in data)) if on]
    return TaskResult("ok", head + (f"; {', '.join(checks)}" if checks else ""), data)


def _checksum_problems(facts: dict[str, str], args: dict[str, Any], data: dict[str, Any]) -> list[str]:
    checksum = args["checksum"]
    if not checksum:
        return []
    got = facts.get("sha256", "").lower()
    data["sha256"] = got
    if str(checksum).lower() == "sidecar":
        want = facts.get("sidecar", "").lower()
        if not SHA256_RE.fullmatch(want):
            return [f"no readable sha256 in the sidecar {data['newest']}.sha256"]
    else:
        want = str(checksum).lower()
    if got != want:
        return [f"sha256 {got[:12] or '?'} does not match {want[:12]}"]
    data["sha256_ok"] = True
    return []


def _backup_rules(args: dict[str, Any]) -> None:
    path = str(args["path"])
    if not path.startswith("/") or "\n" in path or "\0" in path:
        raise ArgProblem("path", f"got {path!r}", "expected an absolute path or glob on the host")
    checksum = args["checksum"]
    if checksum and str(checksum).lower() != "sidecar" and not SHA256_RE.fullmatch(str(checksum)):
        raise ArgProblem("checksum", f"got {checksum!r}", "expected a sha256 (64 hex digits) or `sidecar`")
    if args["max_age_hours"] is not None:
        try:
            hours = float(args["max_age_hours"])
        except ValueError:
            hours = -1.0
        if not hours >= 0:
            raise ArgProblem("max_age_hours", f"got {args['max_age_hours']!r}", "expected 0 or more hours (e.g. 26 or 1.5)")
    if args["min_size_bytes"] < 0:
        raise ArgProblem("min_size_bytes", f"got {args['min_size_bytes']}", "expected 0 or more bytes")


register(ModuleSpec(
    "backup_verify", "posix",
    (Arg("path", required=True, help="a backup file, a folder (its newest file, 3 levels deep) or a glob"),
     Arg("max_age_hours", default="26", help="the newest file may be at most this old (the check's default)"),
     Arg("min_size_bytes", "int", default=1, help="and at least this big"),
     Arg("checksum", help="a sha256 the newest file must have, or `sidecar` (its FILE.sha256)"),
     Arg("test_archive", "bool", default=False, help="test the archive: tar -t, gzip/zstd/xz/bzip2 -t by extension")),
    "plan", _backup_verify, "check the newest backup: age, size, readability, checksum, archive test (read-only)",
    changes=False, validate=_backup_rules,
))


# ---------------------------------------------------------------- fstrim

# sh -c SCRIPT sh MODE(plan|run) [MOUNTPOINT ...]: "nofstrim" when fstrim is missing; in plan mode per
# given mount point "mount TARGET<TAB>SOURCE<TAB>FSTYPE<TAB>DISC-MAX", for all "@@dry" + fstrim -a --dry-run.
_TRIM_SCRIPT = r'''
M=$1; shift
LC_ALL=C; export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
command -v fstrim >/dev/null 2>&1 || { echo nofstrim; exit 0; }
if [ "$M" = plan ]; then
  if [ $# -eq 0 ]; then echo "@@dry"; fstrim -av --dry-run 2>&1; echo "@@rc $?"; exit 0; fi
  for m in "$@"; do
    if ! t=$(findmnt -rnvo TARGET,SOURCE,FSTYPE --target "$m" 2>/dev/null | head -n 1) || [ -z "$t" ]; then
      printf 'mount %s\t\t\t\n' "$m"; continue
    fi
    set -- $t; src=$2; g=
    [ -b "$src" ] && g=$(lsblk -rndo DISC-MAX -- "$src" 2>/dev/null | head -n 1)
    printf 'mount %s\t%s\t%s\t%s\n' "$m" "$src" "$3" "$g"
  done
  exit 0
fi
if [ $# -eq 0 ]; then fstrim -av 2>&1; echo "@@rc $?"; exit 0; fi
for m in "$@"; do fstrim -v -- "$m" 2>&1; echo "@@rc $?"; done
'''
_TRIMMED = re.compile(r"^(?P<mount>.+?): (?P<human>.+?) \((?:(?P<bytes>\d+) bytes|dry run)\) trimmed(?: on (?P<dev>.+))?$")
_UNSUPPORTED = re.compile(r"^fstrim: (?P<mount>.+?): the discard operation is not supported$")


def parse_trim(stdout: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """fstrim -v output -> (trimmed [{mount, bytes, device}], unsupported mounts, other error lines)."""
    trimmed, unsupported, errors = [], [], []
    for raw in stdout.splitlines():
        line = raw.strip()
        if not line or line.startswith("@@"):
            continue
        m = _TRIMMED.match(line)
        if m:
            trimmed.append({"mount": m["mount"], "bytes": int(m["bytes"]) if m["bytes"] else None,
                            "device": m["dev"]})
            continue
        u = _UNSUPPORTED.match(line)
        if u:
            unsupported.append(u["mount"])
        else:
            errors.append(line[:200])
    return trimmed, unsupported, errors


def parse_trim_plan(stdout: str) -> tuple[list[str], list[str]]:
    """The plan script's mount lines -> (mounts that support discard, 'MOUNT (why not)' for the others)."""
    can, cannot = [], []
    for line in stdout.splitlines():
        if not line.startswith("mount "):
            continue
        mount, src, fstype, dmax = (line[6:].split("\t") + ["", "", ""])[:4]
        if not src:
            cannot.append(f"{mount} (not mounted)")
        elif dmax.strip() in ("", "0", "0B"):
            cannot.append(f"{mount} ({fstype or 'no block device'}: no discard support)" if dmax.strip() in ("0", "0B")
                          else f"{mount} ({fstype} on {src}: not a block device with discard)")
        else:
            can.append(mount)
    return can, cannot


def _fstrim(call: ModuleCall) -> TaskResult:
    mounts = list(call.args["mountpoints"] or [])
    script = shlex.quote(_TRIM_SCRIPT)
    line = f"sh -c {script} sh {'plan' if call.check else 'run'} {shlex.join(mounts)}".rstrip()
    try:
        result = call.run(line, audit_as=f"fstrim {'--dry-run ' if call.check else ''}{shlex.join(mounts) or '-a'}")
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}")
    if result.stdout.strip() == "nofstrim":
        return TaskResult("failed", "fstrim is not installed (util-linux)")
    if call.check:
        return _trim_plan(result.stdout, mounts)
    trimmed, unsupported, errors = parse_trim(result.stdout)
    total = sum(t["bytes"] or 0 for t in trimmed)
    data = {"trimmed": trimmed, "bytes": total, "unsupported": unsupported, "errors": errors}
    if errors:
        hint = "; needs become: true" if any("not permitted" in e or "ermission denied" in e for e in errors) else ""
        first = errors[0] if errors[0].startswith("fstrim:") else f"fstrim: {errors[0]}"
        return TaskResult("failed", f"{first}{hint}", data)
    note = f"; no discard: {', '.join(unsupported)}" if unsupported else ""
    if not trimmed:
        why = f"no discard support on {', '.join(unsupported)}" if unsupported else "no mounted filesystem supports discard"
        return TaskResult("skipped", f"nothing to trim: {why}", data)
    each = ", ".join(f"{t['mount']} {t['bytes'] or 0} bytes" for t in trimmed)
    return TaskResult("changed" if total else "ok", f"trimmed {each}{note}"[:300], data)


def _trim_plan(stdout: str, mounts: list[str]) -> TaskResult:
    if not mounts:
        trimmed, _, errors = parse_trim(stdout)
        can, cannot = [t["mount"] for t in trimmed], errors
    else:
        can, cannot = parse_trim_plan(stdout)
    data = {"would_trim": can, "not_trimmable": cannot, "check_mode": True}
    if not can:
        return TaskResult("skipped", "nothing to trim: " + ("; ".join(cannot) if cannot else
                                                            "no mounted filesystem supports discard"), data)
    note = f"; cannot: {'; '.join(cannot)}" if cannot else ""
    return TaskResult("changed", f"would trim {', '.join(can)} (check mode){note}"[:300], data)


def _trim_rules(args: dict[str, Any]) -> None:
    for i, m in enumerate(args["mountpoints"] or []):
        if not m.startswith("/") or "\n" in m or "\0" in m:
            raise ArgProblem(f"mountpoints[{i}]", f"got {m!r}", "expected an absolute mount point")


register(ModuleSpec(
    "fstrim", "posix",
    (Arg("mountpoints", "list", aliases=("mountpoint",), help="mount points to trim (default: all, fstrim -a)"),),
    "plan", _fstrim, "discard unused blocks on mounted filesystems (fstrim; needs become)",
    validate=_trim_rules,
))


# ---------------------------------------------------------------- av_update

def signature_age(av: dict[str, Any]) -> tuple[float | None, str]:
    """(age in days of the newest database, 'daily.cld version 27000, built ...') from the av facts."""
    dbs = sorted(av.get("databases") or [], key=lambda d: d["mtime"], reverse=True)
    if not dbs:
        return None, f"no signature databases in {av.get('db_dir')}"
    age = (int(av["now"]) - int(dbs[0]["mtime"])) / 86400
    daily = next((d for d in dbs if d["name"].startswith("daily.")), dbs[0])
    what = daily["name"] + (f" version {daily['version']}" if daily.get("version") else "")
    return age, what


def _db_state(av: dict[str, Any]) -> list[tuple[str, int, int, Any]]:
    return sorted((d["name"], d["mtime"], d["size"], d.get("version")) for d in av.get("databases") or [])


def _av_facts(call: ModuleCall) -> tuple[dict[str, Any] | None, str]:
    from rmmctl import probes
    from rmmctl.checks.av import av_params

    params = av_params({"clamav_db_dir": call.args["db_dir"] or call.ctx.host.vars.get("clamav_db_dir")},
                       call.ctx.host.name)
    facts = probes.collect(call.ctx, ["av"], params)
    data = facts.available("av")
    if data is None:
        raw = facts.get("av")
        return None, str(facts.errors.get("av") or unavailable_reason(raw) or "no av facts")
    return dict(data), ""


def _age_text(age: float | None, what: str) -> str:
    return what if age is None else f"signatures {age:.1f} days old ({what})"


def _av_update(call: ModuleCall) -> TaskResult:
    args = call.args
    before, why = _av_facts(call)
    exe = args["freshclam_path"]
    if before is None:
        return TaskResult("failed", "freshclam not installed", {"reason": why})
    age, what = signature_age(before)
    data: dict[str, Any] = {"db_dir": before["db_dir"], "age_days_before": None if age is None else round(age, 2)}
    if exe == "freshclam" and "freshclam" not in before.get("tools", []):
        return TaskResult("failed", "freshclam not installed", data)
    if call.check:
        return TaskResult("skipped", f"skipped in check mode: only freshclam knows what the mirror has; "
                          f"{_age_text(age, what)}", {**data, "check_mode": True})
    words = [exe, "--stdout"]
    if args["config_file"]:
        words += [f"--config-file={args['config_file']}"]
    if args["db_dir"]:
        words += [f"--datadir={args['db_dir']}"]
    line = f"command -v {shlex.quote(exe)} >/dev/null 2>&1 || {{ echo 'freshclam not installed' >&2; exit 127; }}; " \
           f"{shlex.join(words)}"
    try:
        ran = call.run(line, audit_as=shlex.join(words))
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"freshclam timed out after {call.timeout:g} s: {exc}", data)
    data["rc"] = ran.exit_code
    if ran.exit_code == 127:
        return TaskResult("failed", "freshclam not installed" + ("" if exe == "freshclam" else f" ({exe})"), data)
    if ran.exit_code not in (0, 1):  # freshclam: 0 updated, 1 up to date (older releases), else an error
        said = next((x for x in (ran.stdout + "\n" + ran.stderr).splitlines() if x.startswith("ERROR")), "")
        return TaskResult("failed", f"freshclam failed (rc={ran.exit_code}): {said or _last(ran)}"[:300], data)
    after, why = _av_facts(call)
    if after is None:
        return TaskResult("failed", f"freshclam ran but the databases cannot be read: {why}", data)
    age2, what2 = signature_age(after)
    data["age_days_after"] = None if age2 is None else round(age2, 2)
    if _db_state(after) == _db_state(before):
        return TaskResult("ok", f"signatures up to date: {_age_text(age2, what2)}", data)
    return TaskResult("changed", f"signatures updated: {_age_text(age, what)} -> {_age_text(age2, what2)}", data)


def _av_rules(args: dict[str, Any]) -> None:
    for name in ("config_file", "db_dir"):
        v = args[name]
        if v is not None and (not v.startswith("/") or "\n" in v):
            raise ArgProblem(name, f"got {v!r}", "expected an absolute path on the host")
    exe = str(args["freshclam_path"])
    if exe != "freshclam" and not exe.startswith("/"):
        raise ArgProblem("freshclam_path", f"got {exe!r}", "expected `freshclam` or an absolute path")


register(ModuleSpec(
    "av_update", "posix",
    (Arg("freshclam_path", default="freshclam", help="the freshclam program (default: found on PATH)"),
     Arg("config_file", help="freshclam --config-file (default: freshclam's own)"),
     Arg("db_dir", help="the signature folder (--datadir; default: host var clamav_db_dir or freshclam.conf)")),
    "skip", _av_update, "update ClamAV signatures with freshclam; reports their age before and after",
))
