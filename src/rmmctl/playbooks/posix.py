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
from dataclasses import dataclass
from pathlib import Path

from rmmctl.errors import CommandTimeout
from rmmctl.models import CommandResult
from rmmctl.playbooks.lines import LineEdit, edit_lines, split_lines
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register

MAX_FILE_BYTES = 8 * 1024 * 1024  # copy src / lineinfile file: what one task moves at most


def _cmd_result(call: ModuleCall, line: str, shown: str) -> TaskResult:
    try:
        result = call.run(line)
    except CommandTimeout as exc:
        if call.timeout is None:
            raise
        return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}", {"cmd": shown})
    return cmd_outcome(call, result, shown)


def cmd_outcome(call: ModuleCall, result: CommandResult, shown: str) -> TaskResult:
    """A finished command as a task result: failed on rc != 0, else changed; rc, stdout ... in data."""
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
    'p=$1; if [ -f "$p" ]; then printf "file %s " "$(stat -c "%a %U %G %u %g" -- "$p")"; '
    'if [ "$2" = sum ]; then sha256sum < "$p" | cut -c1-64; else echo; base64 < "$p"; fi; '
    'elif [ -e "$p" ]; then echo other; else echo absent; fi'
)


@dataclass(frozen=True, slots=True)
class FileState:
    """A path on the host: kind (file, absent, other), mode, sha256 hex or content, owner and group
    (names and ids; None when unknown, e.g. a file only planned by an earlier task in check mode)."""

    kind: str
    mode: int | None = None
    data: str | bytes | None = None
    owner: tuple[str, str] | None = None  # (name, uid)
    group: tuple[str, str] | None = None  # (name, gid)


def _stat(call: ModuleCall, path: str, *, content: bool) -> FileState:
    """The path's state in one exec (in check mode, what an earlier task of this host would have written,
    without an exec)."""
    if call.check and path in call.planned:
        data, mode = call.planned[path]
        return FileState("file", mode, data if content else hashlib.sha256(data).hexdigest())
    line = f"sh -c {shlex.quote(_STATE_SCRIPT)} sh {shlex.quote(path)} {'content' if content else 'sum'}"
    result = call.run(line, audit_as=f"stat {shlex.quote(path)}")
    if result.exit_code != 0:
        raise _Failed(f"cannot read {path}: {(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")
    if result.truncated:
        raise _Failed(f"{path} is larger than the output limit (--max-output); not changed")
    head, _, rest = result.stdout.partition("\n")
    words = head.split()
    if not words or words[0] not in ("file", "absent", "other") or (words[0] == "file" and len(words) < 6):
        raise _Failed(f"unexpected answer reading {path}: {head[:80]!r}")
    if words[0] != "file":
        return FileState(words[0])
    mode, owner, group = int(words[1], 8), (words[2], words[4]), (words[3], words[5])
    data = base64.b64decode(rest) if content else (words[6] if len(words) > 6 else "")
    return FileState("file", mode, data, owner, group)


def _read_state(call: ModuleCall, path: str, *, content: bool) -> tuple[str, int | None, str | bytes | None]:
    """('file', mode, sha256 hex | bytes) / ('absent', None, None) / ('other', None, None), in one exec."""
    state = _stat(call, path, content=content)
    return state.kind, state.mode, state.data


def _chown_spec(owner: str | None, group: str | None) -> str:
    """chown's OWNER[:GROUP] / :GROUP word ('' for neither)."""
    return (owner or "") + (f":{group}" if group else "")


def _write(call: ModuleCall, path: str, data: bytes, mode: int, *, chown: str = "", keep: str = "",
           parents: bool = False) -> None:
    """Write `data` to `path` with `mode` (and owner/group `chown`, set before the file appears): base64
    over stdin into a temp file beside it, then mv. `keep`: the old file's uid:gid, given back to the new
    one where allowed (as Ansible's atomic move does). `parents`: make missing folders first."""
    script = ('p=$1; d=$(dirname -- "$p"); if [ "$4" = 1 ]; then mkdir -p -- "$d" || exit 1; fi; '
              't=$(mktemp "$d/.rmmctl.XXXXXX") || exit 1; '
              'if base64 -d > "$t" && chmod "$2" "$t" && { [ -z "$5" ] || chown -- "$5" "$t" 2>/dev/null || :; } '
              '&& { [ -z "$3" ] || chown -- "$3" "$t"; } && mv -f -- "$t" "$p"; then exit 0; fi; rm -f -- "$t"; exit 1')
    line = (f"sh -c {shlex.quote(script)} sh {shlex.quote(path)} {mode:04o} {shlex.quote(chown)} {1 if parents else 0} "
            f"{shlex.quote(keep)}")
    result = call.run(line, stdin=base64.b64encode(data), audit_as=f"write {shlex.quote(path)} ({len(data)} bytes)")
    if result.exit_code != 0:
        raise _Failed(f"cannot write {path}: {(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")


def _chmod(call: ModuleCall, path: str, mode: int | None, chown: str = "") -> None:
    """Set the mode and/or the owner/group of an existing file, in one exec."""
    steps = ([f"chmod {mode:04o} -- {shlex.quote(path)}"] if mode is not None else []) + (
        [f"chown -- {shlex.quote(chown)} {shlex.quote(path)}"] if chown else [])
    result = call.run(" && ".join(steps))
    if result.exit_code != 0:
        raise _Failed(f"cannot set the attributes of {path}: {(result.stderr.strip().splitlines() or [''])[-1]}")


class _Failed(Exception):
    """A module's one-line failure."""


def _diff(path: str, before: bytes | None, after: bytes) -> str:
    old = (before or b"").decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"before: {path}" if before is not None else "/dev/null",
                                 f"after: {path}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _owner_changes(want: str | None, have: tuple[str, str] | None) -> bool:
    """Is owner (or group) `want` (a name or a numeric id) not what the file has? Unknown: it changes."""
    return want is not None and (have is None or want not in have)


def _finish(call: ModuleCall, path: str, before: bytes | None, after: bytes | None, old_mode: int | None,
            mode: int | None, what: str, *, state: FileState | None = None, owner: str | None = None,
            group: str | None = None, parents: bool = False, done: bool = False) -> TaskResult:
    """Compare, report (and unless --check, write): the shared end of copy and lineinfile. `state`: the
    file as read (for its owner and group), `parents`: a new file's missing folders are made; `done`: the
    host already made the change in the exec that read `state` (copy's converge), so only report it."""
    content_changes = after is not None
    mode_changes = mode is not None and old_mode is not None and mode != old_mode
    exists = state is not None and state.kind == "file"
    owner_changes = _owner_changes(owner, state.owner if exists else None)  # type: ignore[union-attr]
    group_changes = _owner_changes(group, state.group if exists else None)  # type: ignore[union-attr]
    data: dict = {"path": path, "changed_content": content_changes,
                  "mode": f"{(mode if mode is not None else old_mode or 0o644):04o}"}
    if owner is not None or (exists and state.owner):  # type: ignore[union-attr]
        data["owner"] = owner if owner is not None else state.owner[0]  # type: ignore[union-attr,index]
    if group is not None or (exists and state.group):  # type: ignore[union-attr]
        data["group"] = group if group is not None else state.group[0]  # type: ignore[union-attr,index]
    if not (content_changes or mode_changes or owner_changes or group_changes):
        return TaskResult("ok", f"{path} is as wanted", data)
    diff = _diff(path, before, after) if (call.diff and after is not None) else None
    if not content_changes:
        parts = [f"mode {old_mode:04o} -> {mode:04o}"] if mode_changes else []
        for label, want, have, changes in (("owner", owner, state.owner if exists else None, owner_changes),  # type: ignore[union-attr]
                                           ("group", group, state.group if exists else None, group_changes)):  # type: ignore[union-attr]
            if changes:
                parts.append(f"{label} {have[0] if have else '?'} -> {want}")
        what = ", ".join(parts)
    chown = _chown_spec(owner if owner_changes else None, group if group_changes else None)
    if call.check:
        if after is not None or (before is not None and mode is not None):
            call.planned[path] = (after if after is not None else before, mode if mode is not None else  # type: ignore[assignment]
                                  (old_mode if old_mode is not None else 0o644))
        return TaskResult("changed", f"would change {path}: {what} (check mode)", {**data, "check_mode": True}, diff)
    if done:
        pass
    elif content_changes:
        keep = f"{state.owner[1]}:{state.group[1]}" if exists and state.owner and state.group else ""  # type: ignore[union-attr]
        _write(call, path, after, mode if mode is not None else (old_mode if old_mode is not None else 0o644),  # type: ignore[arg-type]
               chown=_chown_spec(owner, group), keep=keep, parents=parents)
    else:
        _chmod(call, path, mode if mode_changes else None, chown)
    return TaskResult("changed", f"changed {path}: {what}", data, diff)


# copy in one exec (a real run without --diff): read the file's state and, only where it differs from what
# is wanted, write it (content over stdin, base64) or set its mode/owner/group; the same rules as _finish:
# content by sha256, mode by value, owner/group by name or id. Prints the old state as _STATE_SCRIPT does
# ("file MODE USER GROUP UID GID SHA" / "absent" / "other") for the report, and fails (rc 1) naming the step.
_CONVERGE_SCRIPT = (
    'p=$1 m=$2 o=$3 g=$4 want=$5; '
    'if [ -e "$p" ] && [ ! -f "$p" ]; then echo other; exit 0; fi; '
    'keep=; if [ -f "$p" ]; then st=$(stat -c "%a %U %G %u %g" -- "$p") || exit 1; '
    'sum=$(sha256sum < "$p" | cut -c1-64) || exit 1; echo "file $st $sum"; set -- $st; '
    'if [ "$sum" = "$want" ]; then '
    'if [ -n "$m" ] && [ "$((0$m))" != "$((0$1))" ]; then chmod "$m" -- "$p" || exit 1; fi; '
    'c=; if [ -n "$o" ] && [ "$o" != "$2" ] && [ "$o" != "$4" ]; then c=$o; fi; '
    'if [ -n "$g" ] && [ "$g" != "$3" ] && [ "$g" != "$5" ]; then c="$c:$g"; fi; '
    'if [ -n "$c" ]; then chown -- "$c" "$p" || exit 1; fi; exit 0; fi; '
    '[ -n "$m" ] || m=$1; keep="$4:$5"; else echo absent; [ -n "$m" ] || m=0644; fi; '
    'd=$(dirname -- "$p"); t=$(mktemp "$d/.rmmctl.XXXXXX") || exit 1; '
    'if base64 -d > "$t" && chmod "$m" "$t" && { [ -z "$keep" ] || chown -- "$keep" "$t" 2>/dev/null || :; } '
    '&& { [ -z "$o$g" ] || chown -- "$o${g:+:$g}" "$t"; } && mv -f -- "$t" "$p"; then exit 0; fi; '
    'rm -f -- "$t"; exit 1'
)


def _converge(call: ModuleCall, path: str, wanted: bytes, mode: int | None, owner: str | None,
              group: str | None) -> FileState:
    """Run _CONVERGE_SCRIPT: the file's state before (as _stat reads it, the sha256 as data)."""
    line = (f"sh -c {shlex.quote(_CONVERGE_SCRIPT)} sh {shlex.quote(path)} "
            f"{shlex.quote(f'{mode:04o}' if mode is not None else '')} {shlex.quote(owner or '')} "
            f"{shlex.quote(group or '')} {hashlib.sha256(wanted).hexdigest()}")
    result = call.run(line, stdin=base64.b64encode(wanted), audit_as=f"copy {shlex.quote(path)} ({len(wanted)} bytes)")
    head = (result.stdout.splitlines() or [""])[0]
    words = head.split()
    if result.exit_code != 0:
        raise _Failed(f"cannot write {path}: {(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")
    if not words or words[0] not in ("file", "absent", "other") or (words[0] == "file" and len(words) < 7):
        raise _Failed(f"unexpected answer writing {path}: {head[:80]!r}")
    if words[0] != "file":
        return FileState(words[0])
    return FileState("file", int(words[1], 8), words[6], (words[2], words[4]), (words[3], words[5]))


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
    attrs = {"owner": args["owner"], "group": args["group"]}
    try:
        full = call.diff or call.check  # the old content: for the diff, and for the plan later tasks build on
        one_exec = not full  # a real run without --diff: read and write in one exec (one round trip)
        state = _converge(call, dest, wanted, args["mode"], **attrs) if one_exec else _stat(call, dest, content=full)
        if state.kind == "other":
            return TaskResult("failed", f"dest {dest} exists and is not a regular file")
        if state.kind == "file":
            digest = state.data
            same = (digest == wanted) if full else (digest == hashlib.sha256(wanted).hexdigest())
            before = digest if full else None
            after = None if same else wanted
            return _finish(call, dest, before, after, state.mode, args["mode"],  # type: ignore[arg-type]
                           f"{len(wanted)} bytes, sha256 {hashlib.sha256(wanted).hexdigest()[:12]}", state=state,
                           done=one_exec, **attrs)
        return _finish(call, dest, None, wanted, None, args["mode"], f"new file, {len(wanted)} bytes", state=state,
                       done=one_exec, **attrs)
    except _Failed as exc:
        return TaskResult("failed", str(exc))


_ACCOUNT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")


def _account_rules(args: dict) -> None:
    for key in ("owner", "group"):
        value = args.get(key)
        if value is not None and not _ACCOUNT.fullmatch(str(value)):
            raise ArgProblem(key, f"got {value!r}", "expected a user/group name or a numeric id (letters, digits, _ . -)")


def _copy_rules(args: dict) -> None:
    _account_rules(args)
    if (args["content"] is None) == (args["src"] is None):
        raise ArgProblem("content", "give content or src, exactly one", "expected `content: TEXT` or `src: FILE`")
    if not str(args["dest"]).startswith("/"):
        raise ArgProblem("dest", f"got {args['dest']!r}", "expected an absolute path on the host")


register(ModuleSpec(
    "copy", "posix",
    (Arg("dest", required=True, help="absolute path on the host"),
     Arg("content", help="the file's text"), Arg("src", help="a local file (relative: to the playbook)"),
     Arg("mode", "mode", help="octal mode, quoted: '0644' (default: keep, new files 0644)"),
     Arg("owner", help="user name or uid to own the file (chown; needs become unless it is you)"),
     Arg("group", help="group name or gid of the file")),
    "plan", _copy, "put a file on the host (changed only if its content, mode, owner or group differs)",
    validate=_copy_rules,
))


def _line_edit(args: dict) -> LineEdit:
    """The checked arguments as the pure edit (rmmctl.playbooks.lines); insertafter defaults to EOF."""
    def b(key: str) -> bytes | None:
        return None if args[key] is None else str(args[key]).encode("utf-8", "surrogateescape")

    after, before = b("insertafter"), b("insertbefore")
    if args["state"] == "present" and after is None and before is None:
        after = b"EOF"
    return LineEdit(b("line"), b("regexp"), b("search_string"), after, before, bool(args["backrefs"]),
                    bool(args["firstmatch"]), args["state"])


def _lineinfile(call: ModuleCall) -> TaskResult:
    args = call.args
    path, state = args["path"], args["state"]
    try:
        edit = _line_edit(args)
        st = _stat(call, path, content=True)
        if st.kind == "other":
            return TaskResult("failed", f"path {path} exists and is not a regular file")
        if st.kind == "absent":
            if state == "absent":
                return TaskResult("ok", f"{path} does not exist: nothing to remove (file not present)", {"path": path})
            if not args["create"]:
                return TaskResult("failed", f"{path} does not exist (create: true makes it)", {"path": path})
        before = st.data if st.kind == "file" else b""
        assert isinstance(before, bytes)
        lines, what = edit_lines(split_lines(before), edit)
        after = b"".join(lines)
        if st.kind == "absent" and not what:  # backrefs without a match: no file is made (as Ansible)
            return TaskResult("ok", f"{path} does not exist and nothing matched: not created", {"path": path})
        return _finish(call, path, before if st.kind == "file" else None,
                       None if (after == before and st.kind == "file") else after, st.mode, args["mode"],
                       what or "attributes", state=st, owner=args["owner"], group=args["group"], parents=True)
    except re.error as exc:
        return TaskResult("failed", f"regexp: {exc}")
    except _Failed as exc:
        return TaskResult("failed", str(exc))


def _lineinfile_rules(args: dict) -> None:
    _account_rules(args)
    if not str(args["path"]).startswith("/"):
        raise ArgProblem("path", f"got {args['path']!r}", "expected an absolute path on the host")
    for one, other in (("insertbefore", "insertafter"), ("regexp", "search_string"), ("backrefs", "search_string")):
        if args[one] not in (None, False) and args[other] is not None:
            raise ArgProblem(one, f"cannot be given with {other}", f"expected {one} or {other}, not both")
    if args["state"] == "present":
        if args["line"] is None:
            raise ArgProblem("line", "state present needs it", "expected the line to have in the file")
        if args["backrefs"] and args["regexp"] is None:
            raise ArgProblem("backrefs", "needs regexp", "expected regexp with groups for line to refer to")
    if args["state"] == "absent" and args["line"] is None and args["regexp"] is None and args["search_string"] is None:
        raise ArgProblem("regexp", "state absent needs regexp, search_string or line", "expected what to remove")
    for key in ("regexp", "insertafter", "insertbefore"):
        if args[key] is not None and args[key] not in ("EOF", "BOF"):
            try:
                re.compile(str(args[key]).encode("utf-8", "surrogateescape"))
            except re.error as exc:
                raise ArgProblem(key, f"not a regular expression: {exc}", "expected a Python regular expression") from None
    if args["insertbefore"] == "EOF":
        raise ArgProblem("insertbefore", "got 'EOF'", "expected BOF or a regular expression (insertafter takes EOF)")
    if args["line"] is not None and ("\n" in args["line"]):
        raise ArgProblem("line", "holds a newline", "expected one line")


register(ModuleSpec(
    "lineinfile", "posix",
    (Arg("path", required=True, aliases=("dest", "destfile", "name"), help="absolute path on the host"),
     Arg("line", aliases=("value",), help="the line to have (state present) or remove"),
     Arg("regexp", aliases=("regex",),
         help="present: the last matching line is replaced; absent: every matching line goes"),
     Arg("search_string", help="like regexp, but a plain substring"),
     Arg("state", choices=("present", "absent"), default="present"),
     Arg("insertafter", help="EOF (default), BOF or a regexp: a new line goes after its last match"),
     Arg("insertbefore", help="BOF or a regexp: a new line goes before its last match"),
     Arg("backrefs", "bool", default=False,
         help="line may use \\1 / \\g<name> from regexp; no match: the file is left alone"),
     Arg("firstmatch", "bool", default=False, help="use the first match of regexp/insertafter/insertbefore"),
     Arg("create", "bool", default=False, help="create the file (and its folders) if missing (present only)"),
     Arg("mode", "mode", help="octal mode, quoted: '0644'"),
     Arg("owner", help="user name or uid to own the file"), Arg("group", help="group name or gid")),
    "plan", _lineinfile, "make sure one line is in a file, or is not (changed only if the file changes)",
    validate=_lineinfile_rules,
))
