"""POSIX modules that move files over the transport: `script` (upload, run, remove) and `fetch` (download).

Both take Ansible's argument names. Uploads and downloads go through HostContext.put/get (SFTP over SSH),
so they are in the audit trail and within the host's deadline. Every value reaches the host as data:
the script's arguments are split like a shell would split them, then each word is quoted.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import shlex
import tempfile
from pathlib import Path

from rmmctl.errors import AuthError, CommandTimeout, ConnectError, TransportError
from rmmctl.playbooks.modules import Arg, ArgProblem, ModuleCall, ModuleSpec, TaskResult, register
from rmmctl.playbooks.posix import cmd_outcome

_HOST_ERRORS = (ConnectError, AuthError, CommandTimeout)  # the host's problem, not the task's: they end the host

# -- script --------------------------------------------------------------------------------------------

# $1 creates, $2 removes ('' = not given), $3 1: make the private folder. Prints creates / removes (the
# script need not run), run (check mode: it would), or "dir PATH".
_PREPARE = (
    'if [ -n "$1" ] && [ -e "$1" ]; then echo creates; exit 0; fi; '
    'if [ -n "$2" ] && [ ! -e "$2" ]; then echo removes; exit 0; fi; '
    '[ "$3" = 1 ] || { echo run; exit 0; }; '
    'd=$(mktemp -d "${TMPDIR:-/tmp}/rmmctl-script.XXXXXX") && chmod 700 "$d" && echo "dir $d"'
)
# $1 the private folder, $2 chdir ('' = none), then the command: run it, remove the folder whatever happens.
_RUN = ('d=$1; c=$2; shift 2; if [ -n "$c" ]; then cd -- "$c" || { rm -rf -- "$d"; exit 1; }; fi; '
        '"$@"; rc=$?; rm -rf -- "$d"; exit $rc')


def _script_words(call: ModuleCall) -> tuple[Path, list[str], list[str]] | TaskResult:
    """The local script, its arguments and the executable's words, or why not."""
    try:
        words = shlex.split(call.args["cmd"] or "")
        executable = shlex.split(call.args["executable"] or "")
    except ValueError as exc:
        return TaskResult("failed", f"script: cannot split the command line: {exc}")
    if not words:
        return TaskResult("failed", "script: no script given (cmd is empty)")
    local = Path(words[0]).expanduser()
    local = local if local.is_absolute() else call.base_dir / local
    if not local.is_file():
        return TaskResult("failed", f"script {local}: {'not a regular file' if local.exists() else 'no such file'}")
    return local, words[1:], executable


def _prepare(call: ModuleCall, make_dir: bool) -> str:
    """One exec: the creates/removes tests, then (make_dir) the private folder: its answer word. The
    folder is made as the login user (the upload is its own; sudo reads it all the same), the tests run
    with become (a path only root can see), so with become and a test they take an exec each."""
    creates, removes = call.args["creates"] or "", call.args["removes"] or ""
    if call.become and (creates or removes) and make_dir:
        answer = _prepare_exec(call, creates, removes, False, True)
        return answer if answer != "run" else _prepare_exec(call, "", "", True, False)
    return _prepare_exec(call, creates, removes, make_dir, call.become and not make_dir)


def _prepare_exec(call: ModuleCall, creates: str, removes: str, make_dir: bool, become: bool) -> str:
    line = f"sh -c {shlex.quote(_PREPARE)} sh {shlex.quote(creates)} {shlex.quote(removes)} {int(make_dir)}"
    result = call.run(line, become=become, audit_as=("mktemp -d" if make_dir else "test") +
                      (f" (creates {shlex.quote(creates)})" if creates else "") +
                      (f" (removes {shlex.quote(removes)})" if removes else ""))
    answer = result.stdout.strip()
    if result.exit_code != 0 or not answer:
        last = (result.stderr.strip().splitlines() or [f"rc={result.exit_code}"])[-1]
        raise _Failed(f"cannot prepare a private folder on the host: {last}")
    return answer


def _script(call: ModuleCall) -> TaskResult:
    found = _script_words(call)
    if isinstance(found, TaskResult):
        return found
    local, argv, executable = found
    shown = shlex.join([str(local), *argv])
    data = {"cmd": call.ctx.redact(shown)}
    guarded = bool(call.args["creates"] or call.args["removes"])
    if call.check and not guarded:
        return TaskResult("skipped", "skipped in check mode: a script cannot tell what it would change", data)
    try:
        answer = _prepare(call, make_dir=not call.check)
    except _Failed as exc:
        return TaskResult("failed", str(exc), data)
    if answer == "creates":
        return TaskResult("ok", f"not run: {call.args['creates']} exists (creates)", data)
    if answer == "removes":
        return TaskResult("ok", f"not run: {call.args['removes']} does not exist (removes)", data)
    if call.check:
        return TaskResult("changed", f"would run {shown} (check mode)", {**data, "check_mode": True})
    if not answer.startswith("dir /"):
        return TaskResult("failed", f"unexpected answer preparing the script: {answer[:80]!r}", data)
    return _upload_and_run(call, local, argv, executable, answer[4:], shown)


def _upload_and_run(call: ModuleCall, local: Path, argv: list[str], executable: list[str], folder: str,
                    shown: str) -> TaskResult:
    """Upload into the private folder, run, remove the folder (in the run's exec; again if that failed)."""
    remote = f"{folder}/{local.name}"
    removed = False
    try:
        try:
            call.put(local, remote, mode=0o700)
        except TransportError as exc:
            if isinstance(exc, _HOST_ERRORS):
                raise
            return TaskResult("failed", f"upload failed: {exc}", {"cmd": call.ctx.redact(shown)})
        line = (f"sh -c {shlex.quote(_RUN)} sh {shlex.quote(folder)} {shlex.quote(call.args['chdir'] or '')} "
                f"{shlex.join([*executable, remote, *argv])}")
        try:
            result = call.run(line, audit_as=f"script {shlex.join([*executable, remote, *argv])}")
        except CommandTimeout as exc:
            if call.timeout is None:
                raise
            return TaskResult("failed", f"timed out after {call.timeout:g} s: {exc}", {"cmd": call.ctx.redact(shown)})
        removed = True
        return cmd_outcome(call, result, shown)
    finally:
        if not removed:
            _remove_quietly(call, folder)


def _remove_quietly(call: ModuleCall, folder: str) -> None:
    """Best effort: the upload or the run failed; the private folder goes all the same."""
    try:
        call.run(f"rm -rf -- {shlex.quote(folder)}", timeout=10.0)
    except Exception:  # noqa: BLE001 - the first failure is the one to report
        pass


def _script_rules(args: dict) -> None:
    if not str(args["cmd"] or "").strip():
        raise ArgProblem("cmd", "no script given", "expected `script: FILE [ARGS]` (a local file, relative to the playbook)")
    if args["chdir"] is not None and not str(args["chdir"]).startswith("/"):
        raise ArgProblem("chdir", f"got {args['chdir']!r}", "expected an absolute path on the host")


register(ModuleSpec(
    "script", "posix",
    (Arg("cmd", required=True, help="a local script (relative: to the playbook) and its arguments"),
     Arg("chdir", help="run it in this folder on the host (absolute)"),
     Arg("creates", help="a path on the host: if it exists, the script is not run"),
     Arg("removes", help="a path on the host: if it does not exist, the script is not run"),
     Arg("executable", help="run the script with this program (e.g. /bin/bash); default: its #! line")),
    "skip", _script, "upload a local script to a private folder on the host, run it, remove it", free_form="cmd",
    validate=_script_rules,
))


# -- fetch ---------------------------------------------------------------------------------------------

# $1 the path, $2 "content": its base64 too (the become path, no SFTP). Prints: dir / absent / other /
# unreadable / "file SIZE SHA256" (then the content).
_FETCH_STATE = (
    'p=$1; if [ -d "$p" ]; then echo dir; elif [ ! -e "$p" ]; then echo absent; '
    'elif [ ! -f "$p" ]; then echo other; elif [ ! -r "$p" ]; then echo unreadable; '
    'else printf "file %s " "$(wc -c < "$p")"; sha256sum < "$p" | cut -c1-64; '
    'if [ "$2" = content ]; then base64 < "$p"; fi; fi'
)


class _Failed(Exception):
    """A module's one-line failure."""


def fetch_target(base_dir: Path, dest: str, src: str, host: str, flat: bool) -> Path:
    """Where `src` of `host` lands (Ansible's layout): DEST/HOST/SRC-PATH, or with `flat` DEST itself
    (DEST/ ending in a slash: DEST/basename). Relative DEST: to the playbook's folder. Refuses a `src`
    or host name that would climb out of DEST."""
    if ".." in src.split("/"):
        raise _Failed(f"src {src!r} holds '..': refused (the copy could land outside dest)")
    root = Path(os.path.expanduser(dest))
    root = root if root.is_absolute() else base_dir / root
    if flat:
        if dest.endswith("/"):
            name = posixpath.basename(src.rstrip("/"))
            if not name:
                raise _Failed(f"src {src!r} has no file name")
            return Path(os.path.normpath(root / name))
        if root.is_dir():
            raise _Failed(f"dest {dest} is an existing directory; end it with a slash to fetch into it")
        return Path(os.path.normpath(root))
    if not host or "/" in host or host in (".", ".."):
        raise _Failed(f"host name {host!r} cannot be a folder name")
    inside = os.path.normpath(root / host)
    target = os.path.normpath(os.path.join(inside, src.lstrip("/")))
    if not target.startswith(inside + os.sep):
        raise _Failed(f"src {src!r} would land outside {inside}: refused")
    return Path(target)


def _remote_state(call: ModuleCall, src: str, *, content: bool) -> tuple[str, int, str, bytes | None]:
    """(kind, size, sha256, content if asked) of the remote file, in one exec."""
    line = f"sh -c {shlex.quote(_FETCH_STATE)} sh {shlex.quote(src)} {'content' if content else 'sum'}"
    result = call.run(line, audit_as=f"stat {shlex.quote(src)}" + (" (read)" if content else ""))
    if result.exit_code != 0:
        raise _Failed(f"cannot read {src}: {(result.stderr.strip().splitlines() or ['rc=%d' % result.exit_code])[-1]}")
    if result.truncated:
        raise _Failed(f"{src} is larger than the output limit (--max-output): fetch it without become, or raise the limit")
    head, _, rest = result.stdout.partition("\n")
    words = head.split()
    if not words or words[0] not in ("file", "dir", "absent", "other", "unreadable") or (
            words[0] == "file" and len(words) < 3):
        raise _Failed(f"unexpected answer reading {src}: {head[:80]!r}")
    if words[0] != "file":
        return words[0], 0, "", None
    return "file", int(words[1]), words[2], (base64.b64decode(rest) if content else None)


def _local_sum(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(call: ModuleCall) -> TaskResult:
    args = call.args
    src = args["src"]
    try:
        target = fetch_target(call.base_dir, args["dest"], src, call.ctx.host.name, args["flat"])
        data = {"src": src, "dest": str(target)}
        kind, size, remote_sum, content = _remote_state(call, src, content=call.become and not call.check)
        if kind == "absent":
            if args["fail_on_missing"]:
                return TaskResult("failed", f"{src}: the remote file does not exist", data)
            return TaskResult("ok", f"{src}: the remote file does not exist, not transferring, ignored", data)
        if kind != "file":
            why = {"dir": "is a directory (fetch takes one file)", "other": "is not a regular file",
                   "unreadable": "cannot be read by the login user (become: true reads it through sudo)"}[kind]
            return TaskResult("failed", f"{src} {why}", data)
        data.update(remote_checksum=remote_sum, size=size)
        if target.is_dir():
            return TaskResult("failed", f"{target} is a directory; cannot write the fetched file there", data)
        if _local_sum(target) == remote_sum:
            return TaskResult("ok", f"{target} is up to date", {**data, "checksum": remote_sum})
        if call.check:
            return TaskResult("changed", f"would fetch {src} ({size} bytes) to {target} (check mode)",
                              {**data, "check_mode": True})
        got = _download(call, src, target, content, remote_sum if args["validate_checksum"] else None)
        return TaskResult("changed", f"fetched {src} ({size} bytes) to {target}", {**data, "checksum": got})
    except _Failed as exc:
        return TaskResult("failed", str(exc), {"src": src})


def _download(call: ModuleCall, src: str, target: Path, content: bytes | None, expected: str | None) -> str:
    """Into a temp file beside the target, checked, then renamed over it; returns its sha256."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".rmmctl-fetch.")
    except OSError as exc:
        raise _Failed(f"cannot write below {target.parent}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if content is not None:
                fh.write(content)
        if content is None:
            try:
                call.get(src, tmp)
            except TransportError as exc:
                if isinstance(exc, _HOST_ERRORS):
                    raise
                raise _Failed(f"download failed: {exc}") from None
        got = _local_sum(tmp) or ""
        if expected is not None and got != expected:
            raise _Failed(f"checksum mismatch fetching {src}: sha256 {expected[:12]} on the host, {got[:12]} "
                          "received (did it change during the transfer?)")
        os.replace(tmp, target)
        return got
    finally:
        tmp.unlink(missing_ok=True)


def _fetch_rules(args: dict) -> None:
    if not str(args["src"]).strip():
        raise ArgProblem("src", "is empty", "expected a file on the host")
    if ".." in str(args["src"]).split("/"):
        raise ArgProblem("src", f"got {args['src']!r}", "expected a path without '..' (it could land outside dest)")
    if not str(args["dest"]).strip():
        raise ArgProblem("dest", "is empty", "expected a local folder")


register(ModuleSpec(
    "fetch", "posix",
    (Arg("src", required=True, help="the file on the host"),
     Arg("dest", required=True, help="a local folder (relative: to the playbook); the file lands in DEST/HOST/SRC"),
     Arg("flat", "bool", default=False, help="dest is the local file itself (or DEST/ + the file name)"),
     Arg("fail_on_missing", "bool", default=True, help="a missing remote file fails the task (false: ok, noted)"),
     Arg("validate_checksum", "bool", default=True, help="check the fetched file's sha256 against the host's")),
    "plan", _fetch, "download a file from the host to a local folder per host (changed only if the copy differs)",
    changes=False, validate=_fetch_rules,
))
