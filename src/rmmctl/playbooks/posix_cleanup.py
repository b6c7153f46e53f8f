"""The POSIX `cleanup` module: remove regular files older than N days under given roots.

The scan is one exec: each root is resolved to its physical path (`cd -P`, `pwd -P`) and listed with
`find -P ROOT -xdev -type f -mmin +MINUTES [-size +Nc] [( -name GLOB -o ... )] -printf '%s\\t%p\\0'`
(GNU findutils: `-printf`, `-delete`), NUL-separated so a name holding a newline, quotes or `$(...)` is
data. rmmctl checks the resolved roots against PROTECTED (a root whose path runs through a symlink to
/etc is refused on the host, not only when written literally) and, unless in check mode, runs the same
find with `-delete` over those physical roots in one more exec, printing each file only after its
unlink succeeded. find never follows symlinks (-P: a symlink is neither descended nor matched by
-type f), never crosses a filesystem (-xdev) and only walks below its roots.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register

# A root equal to one of these is refused (cleaning *inside* them, e.g. /var/tmp or /home/u/tmp, is fine).
PROTECTED_EXACT = frozenset({
    "/", "/home", "/var", "/var/cache", "/var/log", "/var/spool", "/var/mail", "/var/opt", "/opt", "/srv",
    "/mnt", "/media", "/root",
})
# A root equal to or below one of these is refused: the system's programs, config and state.
PROTECTED_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
                   "/sbin", "/snap", "/sys", "/usr", "/var/lib")
SHOWN_PATHS = 20


def protected(path: str) -> str | None:
    """Why `path` (absolute) may not be a cleanup root, or None."""
    norm = posixpath.normpath(path)
    norm = "/" if norm == "//" else norm
    if norm in PROTECTED_EXACT:
        return f"{norm} is protected"
    for tree in PROTECTED_TREES:
        if norm == tree:
            return f"{norm} is protected"
        if norm.startswith(tree + "/"):
            return f"{norm} is under protected {tree}"
    return None


def _check_root(path: str) -> str | None:
    if not path.startswith("/"):
        return "expected an absolute path on the host"
    if ".." in path.split("/"):
        return "holds '..'; expected a plain absolute path"
    if "\n" in path or "\0" in path:
        return "holds a newline or NUL"
    return protected(path)


def _rules(args: dict[str, Any]) -> None:
    if not args["paths"]:
        raise ArgProblem("paths", "is empty", "expected at least one root folder")
    for i, path in enumerate(args["paths"]):
        problem = _check_root(path)
        if problem:
            raise ArgProblem(f"paths[{i}]", f"got {path!r}: {problem}",
                             "a cleanup root may not be a system folder (docs/playbooks.md lists them)")
    if args["older_than_days"] < 0:
        raise ArgProblem("older_than_days", f"got {args['older_than_days']}", "expected 0 or more days")
    if args["min_size"] is not None and args["min_size"] < 0:
        raise ArgProblem("min_size", f"got {args['min_size']}", "expected 0 or more bytes")
    for i, pattern in enumerate(args["patterns"] or []):
        if not pattern or "/" in pattern:
            raise ArgProblem(f"patterns[{i}]", f"got {pattern!r}", "expected a glob on the file name, without '/'")


def _find_expr(args: dict[str, Any]) -> str:
    """The find tests after the roots, every value quoted."""
    parts = ["-xdev", "-type", "f", "-mmin", f"+{int(args['older_than_days']) * 1440}"]
    if args["min_size"]:
        parts += ["-size", f"+{int(args['min_size']) - 1}c"]
    words = shlex.join(parts)
    patterns = args["patterns"] or []
    if patterns:
        names = " -o ".join(f"-name {shlex.quote(p)}" for p in patterns)
        words += f" \\( {names} \\)"
    return words


def _records(stdout: str) -> list[str]:
    return [r for r in stdout.split("\0") if r]


def _files(records: list[str]) -> list[tuple[int, str]]:
    out = []
    for rec in records:
        if rec.startswith("F") and "\t" in rec:
            size, _, path = rec[1:].partition("\t")
            if size.isdigit():
                out.append((int(size), path))
    return out


def _last(result: Any) -> str:
    return ((result.stderr.strip().splitlines() or [f"rc={result.exit_code}"])[-1])[:200]


def _report(files: list[tuple[int, str]], *, check: bool, missing: list[str], partial: bool = False) -> TaskResult:
    total = sum(size for size, _ in files)
    paths = [p for _, p in files]
    data: dict[str, Any] = {"files": len(files), "bytes": total, "paths": paths[:SHOWN_PATHS],
                            "truncated": len(paths) > SHOWN_PATHS}
    if missing:
        data["missing"] = missing
    note = f"; missing root(s): {', '.join(missing)}" if missing else ""
    if check:
        data["check_mode"] = True
    if not files:
        return TaskResult("ok", f"nothing to remove{note}", data)
    what = f"{len(files)} file(s), {total} bytes"
    if check:
        return TaskResult("changed", f"would remove {what} (check mode){note}", data,
                          "".join(f"-{p}\n" for p in paths))
    return TaskResult("changed", f"removed {what}{' (output cut: at least)' if partial else ''}{note}", data,
                      "".join(f"-{p}\n" for p in paths))


_SCAN = ('for r in "$@"; do if [ -d "$r" ] && [ ! -L "$r" ]; then p=$(cd -P -- "$r" && pwd -P) || exit 3; '
         "printf 'R%s\\0' \"$p\"; find -P \"$p\" EXPR -printf 'F%s\\t%p\\0' || ec=4; "
         "else printf 'M%s\\0' \"$r\"; fi; done; exit ${ec:-0}")


def _cleanup(call: ModuleCall) -> TaskResult:
    args = call.args
    for i, path in enumerate(args["paths"]):  # templated values: checked again here (validate ran too)
        problem = _check_root(path)
        if problem:
            return TaskResult("failed", f"cleanup: paths[{i}] {path!r}: {problem}; nothing removed")
    given = [posixpath.normpath(p) for p in args["paths"]]  # 'link/' would resolve a symlink root: drop the /
    expr = _find_expr(args)
    script = _SCAN.replace("EXPR", expr)
    line = f"sh -c {shlex.quote(script)} sh {shlex.join(given)}"
    scan = call.run(line, audit_as=f"cleanup scan {shlex.join(given)}")
    if scan.exit_code == 3 or (scan.exit_code != 0 and not scan.stdout):
        return TaskResult("failed", f"cleanup scan failed: {_last(scan)}")
    if scan.exit_code != 0 and "-printf" in scan.stderr:
        return TaskResult("failed", f"cleanup needs GNU find (findutils): {_last(scan)}")
    if scan.truncated:
        return TaskResult("failed", "cleanup: the file list is larger than the output limit (--max-output); "
                                    "nothing removed: narrow the roots or patterns")
    records = _records(scan.stdout)
    roots = [r[1:] for r in records if r.startswith("R")]
    missing = [r[1:] for r in records if r.startswith("M")]
    for root in roots:
        why = protected(root)
        if why:
            return TaskResult("failed", f"cleanup: refused root (resolved on the host): {why}; nothing removed")
    warnings = [w for w in scan.stderr.strip().splitlines() if w][:5]  # e.g. an unreadable folder: skipped
    seen: dict[str, int] = {}
    for size, path in _files(records):
        seen.setdefault(path, size)
    planned = [(size, path) for path, size in seen.items()]
    if call.check or not planned:
        return _warned(_report(planned, check=call.check, missing=missing), warnings)
    unique_roots = list(dict.fromkeys(roots))
    remove = f"find -P {shlex.join(unique_roots)} {expr} -delete -printf 'F%s\\t%p\\0'"
    done = call.run(remove, audit_as=f"cleanup remove {shlex.join(unique_roots)}")
    removed = _files(_records(done.stdout))
    got = _report(removed, check=False, missing=missing, partial=done.truncated)
    if done.exit_code != 0 and not done.truncated and len(removed) < len(planned):
        return TaskResult("failed", f"removed {len(removed)} of {len(planned)} file(s), then: {_last(done)}",
                          got.data, got.diff)
    return _warned(got, warnings)


def _warned(result: TaskResult, warnings: list[str]) -> TaskResult:
    """find's complaints about folders it could not read (skipped, not a failure): noted, kept in data."""
    if not warnings:
        return result
    return TaskResult(result.status, f"{result.msg}; find: {warnings[0][:120]}", {**result.data, "warnings": warnings},
                      result.diff)


register(ModuleSpec(
    "cleanup", "posix",
    (Arg("paths", "list", required=True, aliases=("path",), help="absolute root folders to clean below"),
     Arg("older_than_days", "int", required=True, aliases=("age_days",),
         help="remove files last modified more than this many days (x 24 h) ago"),
     Arg("patterns", "list", help="globs on the file name ('*.gz'); default: every file"),
     Arg("min_size", "int", help="only files of at least this many bytes")),
    "plan", _cleanup, "remove old regular files under given roots (no symlinks, one filesystem)",
    validate=_rules,
))
