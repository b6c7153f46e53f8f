"""`--start-at-task NAME` (Ansible's semantics): the tasks before the first task of that name (or glob) do
not run and are not listed; tags still apply after it; an unknown name is one line naming close ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl import api
from rmmctl.errors import ConfigError
from rmmctl.inventory.load import parse_inventory
from rmmctl.playbooks import load_playbook
from rmmctl.playbooks.run import start_index
from rmmctl.transports.fake import FakeHost, FakeResponse, FakeTransport

PLAY = """\
hosts: all
tasks:
  - name: one
    command: echo one
  - name: Banner text
    command: echo two
  - name: Banner again
    command: echo three
    tags: [banner]
  - name: four
    command: echo four
    tags: [late]
"""


def run(tmp_path: Path, **kw: object) -> list[str]:
    book = tmp_path / "play.yaml"
    book.write_text(PLAY)
    inv = parse_inventory("hosts:\n  h: {address: 127.0.0.2}\n", tmp_path / "inv.yaml")
    opener = lambda host, options, deadline=None: FakeTransport(  # noqa: E731
        host, FakeHost(responses=[(".", FakeResponse("x\n"))]), deadline=deadline)
    report = api.play(inv, "all", api.RunSettings(), playbook=load_playbook(book), opener=opener, **kw)
    return [t["name"] for t in report.hosts[0].data["tasks"]]


def test_tasks_before_the_named_one_do_not_run(tmp_path: Path) -> None:
    assert run(tmp_path) == ["one", "Banner text", "Banner again", "four"]
    assert run(tmp_path, start_at_task="Banner text") == ["Banner text", "Banner again", "four"]
    assert run(tmp_path, start_at_task="Banner*") == ["Banner text", "Banner again", "four"]  # the first match
    assert run(tmp_path, start_at_task="four") == ["four"]
    assert run(tmp_path, start_at_task="Banner text", skip_tags=["banner"]) == ["Banner text", "four"]
    assert run(tmp_path, start_at_task="one", tags=["late"]) == ["four"]


def test_an_unknown_task_name_is_one_line_with_the_closest(tmp_path: Path) -> None:
    book = tmp_path / "play.yaml"
    book.write_text(PLAY)
    loaded = load_playbook(book)
    with pytest.raises(ConfigError) as info:
        start_index(loaded, loaded.plays[0], "Baner text")
    msg = str(info.value)
    assert msg.startswith("--start-at-task 'Baner text': no task of") and "closest: 'Banner text'" in msg
    with pytest.raises(ConfigError, match="its tasks: 'one', 'Banner text'"):
        start_index(loaded, loaded.plays[0], "zzzzzzzz")


def test_the_cli_refuses_an_unknown_name_before_anything(tmp_path: Path) -> None:
    from conftest import cli

    book = tmp_path / "play.yaml"
    book.write_text(PLAY)
    result = cli("play", str(book), "--start-at-task", "fuor", "--yes")
    assert result.exit_code == 3 and "closest: 'four'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
