"""lineinfile's line editing as pure functions over bytes (no host): Ansible's semantics, case for case.

The file is split like Python's `readlines()` on bytes (after each b"\\n"; a last line may lack it), and
every pattern is a bytes regular expression, as Ansible's module does it, so the same input gives the
same file: where Ansible normalises (a replaced line ends in b"\\n", a CRLF one too), so does this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NL = b"\n"  # the line separator written (os.linesep on the POSIX host)


@dataclass(frozen=True, slots=True)
class LineEdit:
    """What to do: Ansible's lineinfile arguments (already checked; `insertafter` defaults to EOF)."""

    line: bytes | None = None
    regexp: bytes | None = None
    search_string: bytes | None = None
    insertafter: bytes | None = None  # b"EOF", b"BOF" or a regular expression
    insertbefore: bytes | None = None  # b"BOF" or a regular expression
    backrefs: bool = False
    firstmatch: bool = False
    state: str = "present"


def split_lines(data: bytes) -> list[bytes]:
    """`data` as readlines() gives it: each line keeps its b"\\n"; the last may have none."""
    parts = data.split(NL)
    lines = [p + NL for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _bare(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def edit_lines(lines: list[bytes], edit: LineEdit) -> tuple[list[bytes], str]:
    """The file's lines after the edit, and Ansible's message ("" when nothing changed)."""
    if edit.state == "absent":
        return _absent(lines, edit)
    return _present(list(lines), edit)


def _absent(lines: list[bytes], edit: LineEdit) -> tuple[list[bytes], str]:
    pattern = re.compile(edit.regexp) if edit.regexp is not None else None

    def hit(cur: bytes) -> bool:
        if pattern is not None:
            return pattern.search(cur) is not None
        if edit.search_string is not None:
            return edit.search_string in cur
        return _bare(cur) == edit.line

    keep = [cur for cur in lines if not hit(cur)]
    gone = len(lines) - len(keep)
    return keep, (f"{gone} line(s) removed" if gone else "")


def _find_match(lines: list[bytes], edit: LineEdit) -> tuple[int, re.Match[bytes] | bool | None]:
    """Step 1: the line regexp (or search_string) matches: the last one, or the first with firstmatch."""
    found: tuple[int, re.Match[bytes] | bool | None] = (-1, None)
    if edit.regexp is None and edit.search_string is None:
        return found
    pattern = re.compile(edit.regexp) if edit.regexp is not None else None
    for i, cur in enumerate(lines):
        m: re.Match[bytes] | bool | None = (pattern.search(cur) if pattern is not None
                                            else (edit.search_string in cur))  # type: ignore[operator]
        if m:
            found = (i, m)
            if edit.firstmatch:
                break
    return found


def _find_anchor(lines: list[bytes], edit: LineEdit, line: bytes) -> tuple[int, int]:
    """Step 2 (no match in step 1): the last line equal to `line`, and where an insertafter/insertbefore
    regexp puts the new line (after the last match, or the first with firstmatch; -1: none)."""
    anchor_re = None
    if edit.insertafter not in (None, b"BOF", b"EOF"):
        anchor_re = re.compile(edit.insertafter)  # type: ignore[arg-type]
    elif edit.insertbefore not in (None, b"BOF"):
        anchor_re = re.compile(edit.insertbefore)  # type: ignore[arg-type]
    exact, anchor = -1, -1
    for i, cur in enumerate(lines):
        if _bare(cur) == line:
            exact = i
        elif anchor_re is not None and anchor_re.search(cur):
            anchor = i + 1 if edit.insertafter else i
            if edit.firstmatch:
                break
    return exact, anchor


def _present(lines: list[bytes], edit: LineEdit) -> tuple[list[bytes], str]:
    line = edit.line or b""
    index, match = _find_match(lines, edit)
    anchor = -1
    if not match:
        index, anchor = _find_anchor(lines, edit, line)
    if index != -1:  # a matching line (or the very line): replace it unless it is already so
        new = match.expand(line) if (edit.backrefs and isinstance(match, re.Match)) else line
        if not new.endswith(NL):
            new += NL
        if lines[index] == new:
            return lines, ""
        lines[index] = new
        return lines, "line replaced"
    if edit.backrefs:  # nothing to fill the backreferences from: leave the file alone
        return lines, ""
    if b"BOF" in (edit.insertbefore, edit.insertafter):
        return [line + NL, *lines], "line added"
    if edit.insertafter == b"EOF" or anchor == -1:
        if lines and lines[-1][-1:] not in (b"\n", b"\r"):
            lines.append(NL)
        lines.append(line + NL)
        return lines, "line added"
    if edit.insertafter:  # after the anchor, unless the line is already there
        if anchor == len(lines):
            if _bare(lines[anchor - 1]) == line:
                return lines, ""
            if lines[-1][-1:] not in (b"\n", b"\r"):  # Ansible glues the line onto it here: we do not
                lines[-1] += NL
            lines.append(line + NL)
            return lines, "line added"
        if _bare(lines[anchor]) == line:
            return lines, ""
    lines.insert(anchor, line + NL)
    return lines, "line added"
