"""Assemble the Linux probe script from the requested sections, and split its output back apart.

The script is baked: nonce, since, log level and log limit are written into it. The prober sends it
in the exec request as ``sh -c SCRIPT`` (``probe_command``); ``COMMAND`` (``sh -s``) takes it on
stdin. Output framing:

    @@NONCE START
    @@NONCE BEGIN section
    ...body (the section's stdout)...
    @@NONCE END section RC CENTISECONDS
    @@NONCE DONE

RC 3 with a line ``unavailable: REASON`` means the host lacks the source for that section.
"""

from __future__ import annotations

import functools
import re
import secrets
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from rmmctl.levels import level_number
from rmmctl.probes import ParamValue

COMMAND = "sh -s"
"""A remote command line that reads the script from build_script() on its stdin (see probe_command)."""


def probe_command(script: str) -> str:
    """The remote command line carrying the script itself: `sh -c SCRIPT`, shell-quoted.

    In the exec request rather than on stdin, the script costs no round trip of its own: sshd opens a
    session channel with an empty window and grants one only when the exec is answered, so stdin
    always waits one round trip for the exec reply. The script holds no secret (its parameters are
    paths and patterns from the inventory), so it may show in the host's process list.
    """
    return shlex.join(["sh", "-c", script])

UNAVAILABLE_RC = 3
_NONCE_RE = re.compile(r"^[A-Za-z0-9]{8,64}$")
_BLOCK_RE = re.compile(r"^#@ (header|section ([a-z_]+))$", re.MULTILINE)
_PARAM_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,40}$")


@dataclass(frozen=True, slots=True)
class RawSection:
    """One section's framed output. rc is None when the output was cut off before its END line."""

    name: str
    rc: int | None
    body: str
    duration_s: float | None = None

    @property
    def truncated(self) -> bool:
        """True when the output ended before this section's END line."""
        return self.rc is None


@dataclass(frozen=True, slots=True)
class RawPart:
    """A sub-part of a section body framed by `@@part NAME` / `@@end NAME RC` (rc None: cut off)."""

    name: str
    rc: int | None
    text: str


def new_nonce() -> str:
    """A fresh random nonce (16 hex digits) that log lines cannot guess to forge section markers."""
    return secrets.token_hex(8)


@functools.cache
def script_blocks(resource: str = "linux.sh") -> tuple[str, dict[str, str]]:
    """The probe file split into its header and its `#@ section NAME` blocks (name -> text)."""
    text = resources.files("rmmctl.probes.linux").joinpath(resource).read_text(encoding="utf-8")
    marks = list(_BLOCK_RE.finditer(text))
    header = ""
    sections: dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        block = text[mark.end() + 1 : end]
        if mark.group(2):
            sections[mark.group(2)] = block
        else:
            header = block
    return header, sections


def build_script(
    sections: Sequence[str],
    *,
    nonce: str,
    since: float | None = None,
    log_level: str = "err",
    log_limit: int = 500,
    params: Mapping[str, ParamValue] | None = None,
) -> str:
    """The probe script for exactly these sections (run in the file's order), for probe_command() or `sh -s`.

    since: unix time for the logs section (None: 24 hours before the host's own clock);
    log_level: the least severe level returned (emerg..debug); log_limit: the most recent N entries;
    params: per-host values for sections that need them (NAME -> shell variable P_NAME, shell-quoted).
    """
    if not _NONCE_RE.match(nonce):
        raise ValueError(f"nonce must be 8-64 letters or digits, got {nonce!r}")
    header, blocks = script_blocks()
    unknown = [s for s in sections if s not in blocks]
    if unknown:
        raise ValueError(f"unknown probe section(s) {', '.join(unknown)}; known: {', '.join(blocks)}")
    wanted = [name for name in blocks if name in sections]
    values = {
        "@NONCE@": nonce,
        "@SINCE@": "" if since is None else str(int(since)),
        "@PRIORITY@": str(level_number(log_level)),
        "@LOGLIMIT@": str(max(1, int(log_limit))),
    }
    for key, value in values.items():
        header = header.replace(key, value)
    return "".join([header, render_params(params or {}), *(blocks[name] for name in wanted), _runner(wanted)])


def render_params(params: Mapping[str, ParamValue]) -> str:
    """`P_NAME='value'` lines, shell-quoted; a list becomes its items joined by newlines (none may hold one)."""
    lines = []
    for name, value in sorted(params.items()):
        if not _PARAM_RE.match(name):
            raise ValueError(f"probe parameter name must be A-Z, 0-9 and _, got {name!r}")
        items = [value] if isinstance(value, str) else list(value)
        if any(not isinstance(i, str) or "\0" in i or (len(items) > 1 and "\n" in i) for i in items):
            raise ValueError(f"probe parameter {name}: values must be strings without NUL or newline")
        lines.append(f"P_{name}={shlex.quote(chr(10).join(items))}\n")
    return "".join(lines)


def _runner(wanted: Sequence[str]) -> str:
    lines = ["_main() {", '  echo "@@$N START"']
    if "logs" in wanted:  # only the logs section reads SINCE: no `date` for the others
        lines += ['  case ${P_LOG_WINDOW_S:-} in ""|*[!0-9]*) P_LOG_WINDOW_S=86400;; esac',
                  '  [ -n "$SINCE" ] || SINCE=$(( $(date +%s) - P_LOG_WINDOW_S ))']
    if "cpu" in wanted or "processes" in wanted:
        lines.append(f"  _sample1 {1 if 'processes' in wanted else 0}")
    lines += [f"  run {name}" for name in wanted]
    # The whole output goes out in one write: line by line, sshd would send ~1000 small packets per host,
    # each one costing the client a decrypt, MAC check and dispatch in paramiko (~2 ms of client CPU per
    # status host). A probe killed at its deadline loses nothing by it: a timeout gives no facts anyway.
    lines += ['  echo "@@$N DONE"', "}", '_o=$(_main </dev/null); printf \'%s\\n\' "$_o"', "exit 0", ""]
    return "\n".join(lines)


def split_sections(stdout: str, nonce: str) -> dict[str, RawSection]:
    """Framed probe output -> section name -> RawSection; a section with no END comes back with rc None.

    Markers count only at the start of a line. The body between them is sliced out whole (str.find, no
    per-line loop: a status probe's output is ~1000 lines per host)."""
    begin, end = f"\n@@{nonce} BEGIN ", f"\n@@{nonce} END "
    text = "\n" + stdout
    out: dict[str, RawSection] = {}
    at = text.find(begin)
    while at >= 0:
        eol = text.find("\n", at + 1)
        if eol < 0:  # cut off inside the BEGIN line itself
            name = text[at + len(begin):].strip()
            out[name] = RawSection(name, None, "")
            break
        name = text[at + len(begin):eol].strip()
        stop, nxt = text.find(end, eol), text.find(begin, eol)
        if stop < 0 or (0 <= nxt < stop):  # no END before the next BEGIN (or the end): cut off
            body_end = nxt if nxt >= 0 else len(text)
            out[name] = RawSection(name, None, text[eol + 1:body_end])
            at = nxt
            continue
        fields_end = text.find("\n", stop + 1)
        fields = text[stop + len(end):fields_end if fields_end >= 0 else len(text)].split()
        body = text[eol + 1:stop]  # up to the line break before END
        out[name] = _closed(name, fields, body)
        at = text.find(begin, stop + 1)
    return out


def _closed(name: str, fields: list[str], text: str) -> RawSection:
    # The runner prints "\n" before END, so the body ends in that artificial line break.
    if text.endswith("\n"):
        text = text[:-1]
    rc = int(fields[1]) if len(fields) > 1 and fields[1].lstrip("-").isdigit() else None
    cs = int(fields[2]) / 100.0 if len(fields) > 2 and fields[2].isdigit() else None
    return RawSection(name, rc if rc is not None else -1, text, cs)


def split_parts(body: str) -> tuple[list[str], dict[str, RawPart]]:
    """A section body -> (lines outside any part, part name -> RawPart).

    A part is sliced out whole between its `@@part NAME` line and its `@@end NAME RC` line (str.find, no
    loop over its lines: the filesystems section's parts are parsed every `rmmctl watch` round)."""
    head: list[str] = []
    parts: dict[str, RawPart] = {}
    text = "\n" + body  # every line starts after a "\n"
    at = 0  # text[at] is the "\n" before the next line outside a part
    while True:
        start = text.find("\n@@part ", at)
        if start < 0:
            head.extend(text[at + 1:].split("\n"))
            return head, parts
        if start > at:
            head.extend(text[at + 1:start].split("\n"))
        eol = text.find("\n", start + 1)
        name = text[start + 8:eol if eol >= 0 else len(text)].strip()
        if eol < 0:  # cut off in the part's own first line
            parts[name] = RawPart(name, None, "")
            return head, parts
        close = text.find(f"\n@@end {name} ", eol)
        if close < 0:  # cut off inside the part
            parts[name] = RawPart(name, None, text[eol + 1:])
            return head, parts
        close_eol = text.find("\n", close + 1)
        line = text[close + 1:close_eol if close_eol >= 0 else len(text)]
        content = text[eol + 1:close]
        if content.endswith("\n"):
            content = content[:-1]  # the line break the runner prints before the end line
        rc = line.split()[-1]
        parts[name] = RawPart(name, int(rc) if rc.lstrip("-").isdigit() else -1, content)
        if close_eol < 0:
            return head, parts
        at = close_eol


def _split_parts_by_line(body: str) -> tuple[list[str], dict[str, RawPart]]:
    """The line-by-line reading split_parts implements (kept as its reference in the tests)."""
    head: list[str] = []
    parts: dict[str, RawPart] = {}
    name: str | None = None
    lines: list[str] = []
    for line in body.split("\n"):
        if name is None and line.startswith("@@part "):
            name, lines = line[7:].strip(), []
        elif name is not None and line.startswith(f"@@end {name} "):
            if lines and lines[-1] == "":
                lines = lines[:-1]
            rc = line.split()[-1]
            parts[name] = RawPart(name, int(rc) if rc.lstrip("-").isdigit() else -1, "\n".join(lines))
            name = None
        elif name is not None:
            lines.append(line)
        else:
            head.append(line)
    if name is not None:
        parts[name] = RawPart(name, None, "\n".join(lines))
    return head, parts


def parse_kv(lines: Sequence[str]) -> dict[str, str]:
    """`key=value` lines -> dict (first `=` splits; lines without one are skipped; last key wins)."""
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key and " " not in key:
            out[key.strip()] = value.strip()
    return out


def reason_of(body: str) -> str:
    """The reason from a section's `unavailable: REASON` line (or a generic one)."""
    for line in reversed(body.split("\n")):
        if line.startswith("unavailable: "):
            return line[len("unavailable: ") :].strip()
    return "unavailable on this host"
