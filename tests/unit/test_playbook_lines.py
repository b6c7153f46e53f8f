"""lineinfile's pure line editing (rmmctl.playbooks.lines) against Ansible's own outcomes.

Each expected file and message below is what ansible-core 2.19's lineinfile module produced on the same
input (run once, locally, with the same arguments); one case differs on purpose and says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from rmmctl.playbooks.lines import LineEdit, edit_lines, split_lines
from rmmctl.playbooks.modules import ArgProblem, lookup, normalize_args


def _edit(args: dict[str, Any]) -> LineEdit:
    def b(key: str) -> bytes | None:
        return None if args.get(key) is None else str(args[key]).encode()

    state = args.get("state", "present")
    after, before = b("insertafter"), b("insertbefore")
    if state == "present" and after is None and before is None:
        after = b"EOF"  # Ansible's default
    return LineEdit(b("line"), b("regexp"), b("search_string"), after, before, args.get("backrefs", False),
                    args.get("firstmatch", False), state)


# (case, file before, lineinfile arguments, file after, Ansible's msg ("" = unchanged))
ANSIBLE = [
    ('append', b'a\nb\n', {'line': 'c'},
     b'a\nb\nc\n', 'line added'),
    ('present', b'a\nc\n', {'line': 'c'},
     b'a\nc\n', ''),
    ('append-no-eol', b'a\nb', {'line': 'c'},
     b'a\nb\nc\n', 'line added'),
    ('present-no-eol', b'a\nb', {'line': 'b'},
     b'a\nb\n', 'line replaced'),
    ('regexp-last', b'port=1\nx\nport=2\n', {'regexp': '^port=', 'line': 'port=3'},
     b'port=1\nx\nport=3\n', 'line replaced'),
    ('regexp-firstmatch', b'port=1\nx\nport=2\n', {'regexp': '^port=', 'line': 'port=3', 'firstmatch': True},
     b'port=3\nx\nport=2\n', 'line replaced'),
    ('regexp-nomatch-append', b'x\n', {'regexp': '^port=', 'line': 'port=3'},
     b'x\nport=3\n', 'line added'),
    ('regexp-nomatch-line-there', b'port=1\nport=3\n', {'regexp': '^nomatch', 'line': 'port=3'},
     b'port=1\nport=3\n', ''),
    ('regexp-same', b'port=3\n', {'regexp': '^port=', 'line': 'port=3'},
     b'port=3\n', ''),
    ('regexp-crlf', b'a\r\nport=1\r\n', {'regexp': '^port', 'line': 'port=2'},
     b'a\r\nport=2\n', 'line replaced'),
    ('exact-crlf', b'a\r\nb\r\n', {'line': 'b'},
     b'a\r\nb\n', 'line replaced'),
    ('insertafter', b'[main]\nx=1\n[other]\n', {'line': 'y=2', 'insertafter': '^\\[main\\]'},
     b'[main]\ny=2\nx=1\n[other]\n', 'line added'),
    ('insertafter-last', b'a\nk\nb\nk\nc\n', {'line': 'N', 'insertafter': '^k'},
     b'a\nk\nb\nk\nN\nc\n', 'line added'),
    ('insertafter-firstmatch', b'a\nk\nb\nk\nc\n', {'line': 'N', 'insertafter': '^k', 'firstmatch': True},
     b'a\nk\nN\nb\nk\nc\n', 'line added'),
    ('insertafter-nomatch', b'a\n', {'line': 'N', 'insertafter': '^zz'},
     b'a\nN\n', 'line added'),
    ('insertafter-there', b'[main]\ny=2\n', {'line': 'y=2', 'insertafter': '^\\[main'},
     b'[main]\ny=2\n', ''),
    ('insertafter-lastline', b'a\nk\n', {'line': 'N', 'insertafter': '^k'},
     b'a\nk\nN\n', 'line added'),
    ('insertbefore', b'a\nb\n', {'line': 'N', 'insertbefore': '^b'},
     b'a\nN\nb\n', 'line added'),
    ('insertbefore-last', b'k\na\nk\n', {'line': 'N', 'insertbefore': '^k'},
     b'k\na\nN\nk\n', 'line added'),
    ('insertbefore-firstmatch', b'a\nk\nb\nk\n', {'line': 'N', 'insertbefore': '^k', 'firstmatch': True},
     b'a\nN\nk\nb\nk\n', 'line added'),
    ('insertbefore-first-line', b'k\na\n', {'line': 'N', 'insertbefore': '^k'},
     b'N\nk\na\n', 'line added'),
    ('insertbefore-BOF', b'a\n', {'line': 'N', 'insertbefore': 'BOF'},
     b'N\na\n', 'line added'),
    ('insertafter-BOF', b'a\n', {'line': 'N', 'insertafter': 'BOF'},
     b'N\na\n', 'line added'),
    ('insertafter-EOF', b'a', {'line': 'N', 'insertafter': 'EOF'},
     b'a\nN\n', 'line added'),
    ('insertbefore-nomatch', b'a\n', {'line': 'N', 'insertbefore': '^zz'},
     b'a\nN\n', 'line added'),
    ('insertbefore-there', b'a\nN\nb\n', {'line': 'N', 'insertbefore': '^b'},
     b'a\nN\nb\n', ''),
    ('regexp-wins-over-insertafter', b'[main]\nport=1\n', {'regexp': '^port=', 'line': 'port=2', 'insertafter': '^\\[main'},
     b'[main]\nport=2\n', 'line replaced'),
    ('regexp-nomatch-insertafter', b'[main]\nx=1\n', {'regexp': '^port=', 'line': 'port=2', 'insertafter': '^\\[main'},
     b'[main]\nport=2\nx=1\n', 'line added'),
    ('backrefs', b'host=old\n', {'regexp': '^(host=).*', 'line': '\\g<1>new', 'backrefs': True},
     b'host=new\n', 'line replaced'),
    ('backrefs-nomatch', b'x\n', {'regexp': '^(host=).*', 'line': '\\1new', 'backrefs': True},
     b'x\n', ''),
    ('backrefs-same', b'host=new\n', {'regexp': '^(host=).*', 'line': '\\1new', 'backrefs': True},
     b'host=new\n', ''),
    ('no-backrefs-literal', b'host=old\n', {'regexp': '^(host=).*', 'line': '\\1new'},
     b'\\1new\n', 'line replaced'),
    ('search-string', b'foo bar\nbaz\n', {'search_string': 'bar', 'line': 'qux'},
     b'qux\nbaz\n', 'line replaced'),
    ('search-string-regex-chars', b'a.*b\nab\n', {'search_string': '.*', 'line': 'X'},
     b'X\nab\n', 'line replaced'),
    ('search-string-nomatch', b'a\n', {'search_string': 'zz', 'line': 'X'},
     b'a\nX\n', 'line added'),
    ('empty-insertbefore', b'', {'line': 'N', 'insertbefore': '^b'},
     b'N\n', 'line added'),
    ('empty-regexp-every-line', b'a\nb\n', {'regexp': '', 'line': 'X'},
     b'a\nX\n', 'line replaced'),
    ('absent-line', b'a\nb\na\n', {'line': 'a', 'state': 'absent'},
     b'b\n', '2 line(s) removed'),
    ('absent-line-crlf', b'a\r\nb\n', {'line': 'a', 'state': 'absent'},
     b'b\n', '1 line(s) removed'),
    ('absent-regexp', b'# c\nx\n# d\n', {'regexp': '^#', 'state': 'absent'},
     b'x\n', '2 line(s) removed'),
    ('absent-search', b'foo bar\nbaz\n', {'search_string': 'o b', 'state': 'absent'},
     b'baz\n', '1 line(s) removed'),
    ('absent-nomatch', b'a\n', {'line': 'z', 'state': 'absent'},
     b'a\n', ''),
    ('unicode-word', b'\xc3\xa9=1\n', {'regexp': '^\\w=', 'line': 'x'},
     b'\xc3\xa9=1\nx\n', 'line added'),
]


@pytest.mark.parametrize(("case", "before", "args", "after", "msg"), ANSIBLE, ids=[c[0] for c in ANSIBLE])
def test_lineinfile_gives_ansibles_result(case: str, before: bytes, args: dict[str, Any], after: bytes,
                                          msg: str) -> None:
    lines, said = edit_lines(split_lines(before), _edit(args))
    assert (b"".join(lines), said) == (after, msg)


def test_a_missing_file_with_create_gets_the_line_unless_backrefs_find_nothing() -> None:
    assert edit_lines([], _edit({"line": "N"})) == ([b"N\n"], "line added")
    assert edit_lines([], _edit({"line": "N", "regexp": "^(x)", "backrefs": True})) == ([], "")  # not created


def test_insertafter_the_last_line_without_a_newline_keeps_both_lines() -> None:
    """Ansible 2.19 gives b'a\\nbN\\n' here (the new line glued onto the last one): we differ on purpose."""
    lines, said = edit_lines(split_lines(b"a\nb"), _edit({"line": "N", "insertafter": "^b"}))
    assert (b"".join(lines), said) == (b"a\nb\nN\n", "line added")


def test_split_lines_is_readlines() -> None:
    assert split_lines(b"") == []
    assert split_lines(b"a\r\nb\rc\n\nd") == [b"a\r\n", b"b\rc\n", b"\n", b"d"]


@pytest.mark.parametrize(("args", "problem"), [
    ({"path": "/f", "line": "x", "insertafter": "^a", "insertbefore": "^b"}, "insertbefore: cannot be given with insertafter"),
    ({"path": "/f", "line": "x", "regexp": "a", "search_string": "a"}, "regexp: cannot be given with search_string"),
    ({"path": "/f", "line": "x", "backrefs": True, "search_string": "a"}, "backrefs: cannot be given with search_string"),
    ({"path": "/f", "line": "x", "backrefs": True}, "backrefs: needs regexp"),
    ({"path": "/f", "state": "absent"}, "state absent needs regexp, search_string or line"),
    ({"path": "/f", "line": "x", "insertafter": "("}, "insertafter: not a regular expression"),
    ({"path": "/f", "line": "x", "insertbefore": "EOF"}, "insertbefore: got 'EOF'"),
    ({"path": "/f", "line": "x", "owner": "a:b"}, "owner: got 'a:b'"),
    ({"path": "f", "line": "x"}, "path: got 'f'"),
])
def test_lineinfile_arguments_are_checked_like_ansible(args: dict[str, Any], problem: str) -> None:
    spec = lookup("posix", "lineinfile")
    assert spec is not None
    with pytest.raises(ArgProblem, match=problem.replace("(", "\\(")):
        normalize_args(spec, args, templated=True)


def test_lineinfile_takes_ansibles_aliases() -> None:
    spec = lookup("posix", "lineinfile")
    assert spec is not None
    args = normalize_args(spec, {"dest": "/f", "regex": "^a", "value": "b"}, templated=True)
    assert (args["path"], args["regexp"], args["line"], args["insertafter"]) == ("/f", "^a", "b", None)
