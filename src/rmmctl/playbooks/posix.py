"""POSIX modules (Linux and the local machine): command, shell, copy, lineinfile.

Argument names follow Ansible's builtins of the same name. Every value reaches the host as data: paths
and argv words are shell-quoted (`shlex.quote`/`shlex.join`), file content goes over stdin as base64;
only `shell:` hands its string to a shell. Each file module reads the host's state in one exec and
writes (if it must) in one more: a temp file beside the destination, then `mv` (atomic on one filesystem).
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
import shlex
from pathlib import Path

from rmmctl.errors import CommandTimeout
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register

MAX_FILE_BYTES = 8 * 1024 * 1024  # copy src / lineinfile file: what one task moves at most


def _cmd_result(call: ModuleCall, line: str, shown: str) -> TaskResult:
    try:
        result = call.run(line)
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}", {"cmd": shown})
    data = {"cmd": call.ctx.redact(shown), "rc": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
            "stdout_lines": result.stdout.splitlines(), "duration_s": round(result.duration_s, 3)}
    if result.exit_code != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
        return TaskResult("failed", f"rc={result.exit_code}: {last[0][:200]}", data)
    first = result.stdout.strip().splitlines()[:1] or [""]
    return TaskResult("changed", first[0][:200], data)


def _in_dir(chdir: str | None, line: str) -> str:
    return f"cd {shlex.quote(chdir)} && {line}" if chdir else line


def _command(call: ModuleCall) -> TaskResult:
    args = call.args
    argv = args["argv"] if args["argv"] is not None else shlex.split(args["cmd"] or "")
    if not argv:
        return TaskResult("failed", "command: nothing to run (cmd is empty)")
    line = shlex.join(argv)  # every word quoted: a value holding $(...) or ; stays a word
    if call.check:
        return TaskResult("skipped", "skipped in check mode: a command cannot tell what it would change",
                          {"cmd": call.ctx.redact(line)})
    return _cmd_result(call, _in_dir(args["chdir"], line), line)


def _command_rules(args: dict) -> None:
    if (args["cmd"] is None) == (args["argv"] is None):
        raise ArgProblem("cmd", "give the command as a string (or cmd) or as argv, exactly one",
                         "expected e.g. `command: uptime` or `command: {argv: [ls, -l]}`")


def _shell(call: ModuleCall) -> TaskResult:
    line = call.args["cmd"]
    if call.check:
        return TaskResult("skipped", "skipped in check mode: a shell command cannot tell what it would change",
                          {"cmd": call.ctx.redact(line)})
    return _cmd_result(call, _in_dir(call.args["chdir"], line), line)


register(ModuleSpec(
    "command", "posix",
    (Arg("cmd", help="the command line, split into words like a shell would (no pipes, no $vars)"),
     Arg("argv", "list", help="the words, already split"),
     Arg("chdir", help="run in this directory")),
    "skip", _command, "run a program with arguments (never through a shell)", free_form="cmd",
    validate=_command_rules,
))
register(ModuleSpec(
    "shell", "posix",
    (Arg("cmd", required=True, help="a /bin/sh command line (pipes, globs, $vars)"),
     Arg("chdir", help="run in this directory")),
    "skip", _shell, "run a /bin/sh command line", free_form="cmd",
))


# ---------------------------------------------------------------- files


_STATE_SCRIPT = (
    'p=$1; if [ -f "$p" ]; then printf "file %s " "$(stat -c %a "$p")"; '
    'if [ "$2" = sum ]; then sha256sum < "$p" | cut -c1-64; else echo; base64 < "$p"; fi; '
    'elif [ -e "$p" ]; then echo other; else echo absent; fi'
)


def _read_state(call: ModuleCall, path: str, *, content: bool) -> tuple[str, int | None, str | bytes | None]:
    """('file', mode, sha256 hex | bytes) / ('absent', None, None) / ('other', None, None), in one exec
    (in check mode, what an earlier task of this host would have written, without an exec)."""
    if call.check and path in call.planned:
        data, mode = call.planned[path]
        return "file", mode, (data if content else hashlib.sha256(data).hexdigest())
    line = f"sh -c {shlex.quote(_STATE_SCRIPT)} sh {shlex.quote(path)} {'content' if content else 'sum'}"
    result = call.run(line, audit_as=f"stat {shlex.quote(path)}")
    if result.exit_code != 0:
        raise _Failed(f"cannot read {path}: {(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")
    if result.truncated:
        raise _Failed(f"{path} is larger than the output limit (--max-output); not changed")
    head, _, rest = result.stdout.partition("\n")
    words = head.split()
    if not words or words[0] not in ("file", "absent", "other"):
        raise _Failed(f"unexpected answer reading {path}: {head[:80]!r}")
    if words[0] != "file":
        return words[0], None, None
    mode = int(words[1], 8)
    if content:
        return "file", mode, base64.b64decode(rest)
    return "file", mode, (words[2] if len(words) > 2 else "")


def _write(call: ModuleCall, path: str, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode`: base64 over stdin into a temp file beside it, then mv."""
    script = ('p=$1; d=$(dirname -- "$p"); t=$(mktemp "$d/.rmmctl.XXXXXX") || exit 1; '
              'if base64 -d > "$t" && chmod "$2" "$t" && mv -f -- "$t" "$p"; then exit 0; fi; rm -f -- "$t"; exit 1')
    line = f"sh -c {shlex.quote(script)} sh {shlex.quote(path)} {mode:04o}"
    result = call.run(line, stdin=base64.b64encode(data), audit_as=f"write {shlex.quote(path)} ({len(data)} bytes)")
    if result.exit_code != 0:
        raise _Failed(f"cannot write {path}: {(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")


def _chmod(call: ModuleCall, path: str, mode: int) -> None:
    result = call.run(f"chmod {mode:04o} -- {shlex.quote(path)}")
    if result.exit_code != 0:
        raise _Failed(f"cannot chmod {path}: {(result.stderr.strip().splitlines() or [''])[-1]}")


class _Failed(Exception):
    """A module's one-line failure."""


def _diff(path: str, before: bytes | None, after: bytes) -> str:
    old = (before or b"").decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"before: {path}" if before is not None else "/dev/null",
                                 f"after: {path}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _finish(call: ModuleCall, path: str, before: bytes | None, after: bytes | None, old_mode: int | None,
            mode: int | None, what: str) -> TaskResult:
    """Compare, report (and unless --check, write): the shared end of copy and lineinfile."""
    content_changes = after is not None
    mode_changes = mode is not None and old_mode is not None and mode != old_mode
    data = {"path": path, "changed_content": content_changes, "mode": f"{(mode if mode is not None else old_mode or 0o644):04o}"}
    if not content_changes and not mode_changes:
        return TaskResult("ok", f"{path} is as wanted", data)
    diff = _diff(path, before, after) if (call.diff and after is not None) else None
    if mode_changes and not content_changes:
        what = f"mode {old_mode:04o} -> {mode:04o}"
    if call.check:
        if after is not None or (before is not None and mode is not None):
            call.planned[path] = (after if after is not None else before, mode if mode is not None else  # type: ignore[assignment]
                                  (old_mode if old_mode is not None else 0o644))
        return TaskResult("changed", f"would change {path}: {what} (check mode)", {**data, "check_mode": True}, diff)
    if content_changes:
        _write(call, path, after, mode if mode is not None else (old_mode if old_mode is not None else 0o644))
    else:
        _chmod(call, path, mode)  # type: ignore[arg-type]
    return TaskResult("changed", f"changed {path}: {what}", data, diff)


def _copy(call: ModuleCall) -> TaskResult:
    args = call.args
    dest = args["dest"]
    if args["src"] is not None:
        src = Path(args["src"]).expanduser()
        src = src if src.is_absolute() else call.base_dir / src
        from rmmctl.inventory.load import read_limited

        try:
            wanted = read_limited(src, MAX_FILE_BYTES)
        except Exception as exc:  # noqa: BLE001 - a ConfigError worded for inventories: say it for copy
            return TaskResult("failed", f"src {src}: {str(exc).split(': ', 1)[-1]}")
    else:
        wanted = str(args["content"]).encode()
    try:
        full = call.diff or call.check  # the old content: for the diff, and for the plan later tasks build on
        kind, old_mode, digest = _read_state(call, dest, content=full)
        if kind == "other":
            return TaskResult("failed", f"dest {dest} exists and is not a regular file")
        if kind == "file":
            same = (digest == wanted) if full else (digest == hashlib.sha256(wanted).hexdigest())
            before = digest if full else None
            after = None if same else wanted
            return _finish(call, dest, before, after, old_mode, args["mode"],  # type: ignore[arg-type]
                           f"{len(wanted)} bytes, sha256 {hashlib.sha256(wanted).hexdigest()[:12]}")
        return _finish(call, dest, None, wanted, None, args["mode"], f"new file, {len(wanted)} bytes")
    except _Failed as exc:
        return TaskResult("failed", str(exc))


def _copy_rules(args: dict) -> None:
    if (args["content"] is None) == (args["src"] is None):
        raise ArgProblem("content", "give content or src, exactly one", "expected `content: TEXT` or `src: FILE`")
    if not str(args["dest"]).startswith("/"):
        raise ArgProblem("dest", f"got {args['dest']!r}", "expected an absolute path on the host")


register(ModuleSpec(
    "copy", "posix",
    (Arg("dest", required=True, help="absolute path on the host"),
     Arg("content", help="the file's text"), Arg("src", help="a local file (relative: to the playbook)"),
     Arg("mode", "mode", help="octal mode, quoted: '0644' (default: keep, new files 0644)")),
    "plan", _copy, "put a file on the host (changed only if its content or mode differs)", validate=_copy_rules,
))


def _lineinfile(call: ModuleCall) -> TaskResult:
    args = call.args
    path, line, state = args["path"], args["line"], args["state"]
    try:
        pattern = re.compile(args["regexp"]) if args["regexp"] is not None else None
    except re.error as exc:
        return TaskResult("failed", f"regexp: {exc}")
    try:
        kind, old_mode, before = _read_state(call, path, content=True)
        if kind == "other":
            return TaskResult("failed", f"path {path} exists and is not a regular file")
        if kind == "absent":
            if state == "absent":
                return TaskResult("ok", f"{path} does not exist: nothing to remove", {"path": path})
            if not args["create"]:
                return TaskResult("failed", f"{path} does not exist (create: true makes it)", {"path": path})
            after = (line + "\n").encode()
            return _finish(call, path, None, after, None, args["mode"], "new file with the line")
        assert isinstance(before, bytes)
        text = before.decode("utf-8", "surrogateescape")
        lines = text.splitlines(keepends=True)
        new, what = _edit(lines, line, pattern, state)
        after_b = "".join(new).encode("utf-8", "surrogateescape")
        return _finish(call, path, before, None if after_b == before else after_b, old_mode, args["mode"],
                       what)  # type: ignore[arg-type]
    except _Failed as exc:
        return TaskResult("failed", str(exc))


def _edit(lines: list[str], line: str | None, pattern: re.Pattern[str] | None, state: str) -> tuple[list[str], str]:
    """Ansible's lineinfile on a list of lines (ends kept): present replaces the last regexp match, or
    appends the line unless it is there; absent removes every matching (or equal) line."""
    bare = [x.rstrip("\r\n") for x in lines]
    if state == "absent":
        keep = [x for x, b in zip(lines, bare) if not (pattern.search(b) if pattern else b == line)]
        return keep, f"removed {len(lines) - len(keep)} line(s)"
    assert line is not None
    if pattern is not None:
        matches = [i for i, b in enumerate(bare) if pattern.search(b)]
        if matches:
            i = matches[-1]
            ending = lines[i][len(bare[i]):] or "\n"
            out = list(lines)
            out[i] = line + ending
            return out, f"replaced line {i + 1}"
    if line in bare:
        return list(lines), "line present"
    out = list(lines)
    if out and not out[-1].endswith(("\n", "\r")):
        out[-1] += "\n"
    out.append(line + "\n")
    return out, "line added at the end"


def _lineinfile_rules(args: dict) -> None:
    if not str(args["path"]).startswith("/"):
        raise ArgProblem("path", f"got {args['path']!r}", "expected an absolute path on the host")
    if args["state"] == "present" and args["line"] is None:
        raise ArgProblem("line", "state present needs it", "expected the line to have in the file")
    if args["state"] == "absent" and args["line"] is None and args["regexp"] is None:
        raise ArgProblem("regexp", "state absent needs regexp or line", "expected what to remove")
    if args["regexp"] is not None:
        try:
            re.compile(args["regexp"])
        except re.error as exc:
            raise ArgProblem("regexp", f"not a regular expression: {exc}", "expected a Python regular expression") from None
    if args["line"] is not None and ("\n" in args["line"]):
        raise ArgProblem("line", "holds a newline", "expected one line")


register(ModuleSpec(
    "lineinfile", "posix",
    (Arg("path", required=True, aliases=("dest",), help="absolute path on the host"),
     Arg("line", help="the line to have (state present) or remove"),
     Arg("regexp", help="present: the last matching line is replaced; absent: every matching line goes"),
     Arg("state", choices=("present", "absent"), default="present"),
     Arg("create", "bool", default=False, help="create the file if it is missing (present only)"),
     Arg("mode", "mode", help="octal mode, quoted: '0644'")),
    "plan", _lineinfile, "make sure one line is in a file, or is not (changed only if the file changes)",
    validate=_lineinfile_rules,
))
