"""fetch's local layout (Ansible's DEST/HOST/SRC-PATH, flat) and its refusals; script's and fetch's
argument checks. Pure: no host."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.playbooks.modules import ArgProblem, lookup, normalize_args
from rmmctl.playbooks.posix_transfer import _Failed, fetch_target

BASE = Path("/play")


@pytest.mark.parametrize(("dest", "src", "flat", "expected"), [
    ("out", "/var/log/app.log", False, "/play/out/web01/var/log/app.log"),
    ("/abs/out/", "/var/log/app.log", False, "/abs/out/web01/var/log/app.log"),
    ("out", "relative/app.log", False, "/play/out/web01/relative/app.log"),
    ("out", "//var//log/./app.log", False, "/play/out/web01/var/log/app.log"),
    ("conf/web01.conf", "/etc/app.conf", True, "/play/conf/web01.conf"),
    ("conf/", "/etc/app.conf", True, "/play/conf/app.conf"),
])
def test_fetch_lands_where_ansible_puts_it(dest: str, src: str, flat: bool, expected: str) -> None:
    assert fetch_target(BASE, dest, src, "web01", flat) == Path(expected)


@pytest.mark.parametrize(("dest", "src", "host", "flat", "problem"), [
    ("out", "/etc/../../x", "web01", False, "holds '..'"),
    ("out", "../x", "web01", True, "holds '..'"),
    ("out", "/etc/x", "..", False, "cannot be a folder name"),
    ("out", "/etc/x", "a/b", False, "cannot be a folder name"),
    ("out/", "/", "web01", True, "has no file name"),
])
def test_fetch_refuses_what_would_land_outside_dest(dest: str, src: str, host: str, flat: bool, problem: str) -> None:
    with pytest.raises(_Failed, match=problem):
        fetch_target(BASE, dest, src, host, flat)


def test_fetch_flat_onto_an_existing_folder_needs_the_slash(tmp_path: Path) -> None:
    with pytest.raises(_Failed, match="end it with a slash"):
        fetch_target(tmp_path, str(tmp_path), "/etc/x", "web01", True)


@pytest.mark.parametrize(("module", "args", "problem"), [
    ("fetch", {"src": "/a/../b", "dest": "out"}, "src: got '/a/../b'"),
    ("fetch", {"src": "/a"}, "dest: fetch needs it"),
    ("script", {"cmd": "  "}, "cmd: no script given"),
    ("script", {"cmd": "x.sh", "chdir": "tmp"}, "chdir: got 'tmp'"),
])
def test_transfer_arguments_are_checked(module: str, args: dict[str, object], problem: str) -> None:
    spec = lookup("posix", module)
    assert spec is not None
    with pytest.raises(ArgProblem, match=problem):
        normalize_args(spec, args, templated=True)


def test_script_takes_the_free_form() -> None:
    spec = lookup("posix", "script")
    assert spec is not None and spec.check_mode == "skip"
    assert normalize_args(spec, "files/x.sh --fast", templated=True)["cmd"] == "files/x.sh --fast"
