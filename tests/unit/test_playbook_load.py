"""Playbook loading and validation: every problem is one `FILE:LINE: key.path: problem; expected` line
(ConfigError, exit 3) before anything runs; templates are sandboxed and strict."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.playbooks import load_playbook, parse_playbook
from rmmctl.playbooks.modules import REGISTRY, lookup, names
from rmmctl.playbooks.template import TemplateProblem, evaluate, render

GOOD = """\
name: Good
hosts: "acme:&linux"
become: true
vars: {motd: /etc/motd, who: "{{ inventory_hostname }}"}
tasks:
  - name: say
    command: echo {{ who }}
    register: said
    changed_when: false
  - shell: uptime | tail -1
    when: said.rc == 0
    ignore_errors: true
    timeout: 5
  - copy: {dest: /etc/motd, content: "hi\\n", mode: "0644"}
  - lineinfile: {path: "{{ motd }}", regexp: "^hi", line: hello, state: present}
"""


def load(text: str, tmp_path: Path) -> object:
    path = tmp_path / "play.yaml"
    path.write_text(text)
    return load_playbook(path)


def error(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load(text, tmp_path)
    message = str(exc.value)
    assert "\n" not in message
    return message.replace(str(tmp_path) + "/", "")


def test_a_good_playbook_loads(tmp_path: Path) -> None:
    book = load(GOOD, tmp_path)
    (play,) = book.plays
    assert (play.name, play.hosts, play.become) == ("Good", "acme:&linux", True)
    assert [t.module for t in play.tasks] == ["command", "shell", "copy", "lineinfile"]
    assert play.tasks[0].args == {"cmd": "echo {{ who }}", "argv": None, "chdir": None}
    assert play.tasks[0].changed_when == (False,) and play.tasks[0].register == "said"
    assert play.tasks[1].timeout == 5.0 and play.tasks[1].ignore_errors
    assert play.tasks[2].args["mode"] == 0o644 and play.tasks[2].line == 14
    assert play.changes


def test_a_one_play_list_is_accepted_like_ansible(tmp_path: Path) -> None:
    book = load("- hosts: all\n  tasks:\n    - command: uptime\n", tmp_path)
    assert book.plays[0].name == "all"


@pytest.mark.parametrize(("text", "expected"), [
    ("hosts: all\ntasks:\n  - comand: uptime\n",
     "play.yaml:3: tasks[0].comand: unknown task key or module (did you mean 'command'?); expected a module"),
    ("hosts: all\ntasks:\n  - command: uptime\n    wen: x\n",
     "play.yaml:4: tasks[0].wen: unknown task key or module (did you mean 'when'?)"),
    ("hosts: all\npre_tasks: []\ntasks:\n  - command: uptime\n",
     "play.yaml:2: pre_tasks: pre_tasks is not supported yet; expected only name, hosts, vars, defaults, become, serial, "
     "max_fail_percentage, tasks, handlers, require"),
    ("hosts: all\ntasks:\n  - command: uptime\n    retries: 2\n",
     "play.yaml:4: tasks[0].retries: retries without until; expected until: CONDITION beside it"),
    ("hosts: all\ntasks:\n  - command: uptime\n    until: result.rc == 0\n    delay: -1\n",
     "play.yaml:5: tasks[0].delay: got -1; expected seconds from 0 to 3600"),
    ("hosts: all\ntasks:\n  - command: uptime\n    until: result.rc ==\n",
     "play.yaml:4: tasks[0].until: bad expression"),
    ("hosts: all\ntasks:\n  - command: uptime\n    with_items: [1]\n",
     "play.yaml:4: tasks[0].with_items: with_items is not supported yet"),
    ("hosts: all\ntasks:\n  - command: echo {{ item }}\n    loop: nope\n",
     "play.yaml:4: tasks[0].loop: got a string; expected a list, or a template giving one like '{{ paths }}'"),
    ("hosts: all\ntasks:\n  - command: echo {{ item }}\n    loop: ['{{ a']\n",
     "play.yaml:4: tasks[0].loop[0]: bad template"),
    ("hosts: all\ntasks:\n  - command: uptime\n    tags: {a: 1}\n",
     "play.yaml:4: tasks[0].tags: got a mapping; expected a tag name or a list of them"),
    ("hosts: all\ntasks:\n  - name: x\n", "play.yaml:3: tasks[0]: no module; expected exactly one module key"),
    ("hosts: all\ntasks:\n  - command: uptime\n    shell: uptime\n", "tasks[0]: two modules: command, shell"),
    ("hosts: all\ntasks:\n  - copy: {dest: /x}\n", "play.yaml:3: tasks[0].copy.content: give content or src"),
    ("hosts: all\ntasks:\n  - copy:\n      dest: /x\n      content: y\n      mode: rwx\n",
     "play.yaml:6: tasks[0].copy.mode: got 'rwx'; expected an octal file mode like '0644'"),
    ("hosts: all\ntasks:\n  - copy:\n      dest: /x\n      content: y\n      backup: true\n",
     "play.yaml:6: tasks[0].copy.backup: unknown argument of copy; expected one of dest, content, src, mode, owner, group"),
    ("hosts: all\ntasks:\n  - copy: {dest: relative, content: y}\n",
     "tasks[0].copy.dest: got 'relative'; expected an absolute path on the host"),
    ("hosts: all\ntasks:\n  - lineinfile: {path: /x, line: y, state: gone}\n",
     "tasks[0].lineinfile.state: got 'gone'; expected one of present, absent"),
    ("hosts: all\ntasks:\n  - lineinfile: {path: /x, regexp: '(', line: y}\n",
     "tasks[0].lineinfile.regexp: not a regular expression"),
    ("hosts: all\ntasks:\n  - lineinfile: {path: /x}\n", "tasks[0].lineinfile.line: state present needs it"),
    ("hosts: all\ntasks:\n  - copy: uptime\n", "tasks[0].copy: got a string; expected a mapping of dest"),
    ("hosts: all\ntasks:\n  - command: echo {{ x\n",
     "play.yaml:3: tasks[0].command: bad template: unexpected end of template"),
    ("hosts: all\ntasks:\n  - command: uptime\n    when: x ==\n",
     "play.yaml:4: tasks[0].when: bad expression:"),
    ("hosts: all\nvars:\n  a: '{{ }}'\ntasks:\n  - command: uptime\n", "play.yaml:3: vars.a: bad template"),
    ("hosts: all\ntasks:\n  - command: uptime\n    timeout: -1\n", "tasks[0].timeout: got -1; expected seconds"),
    ("hosts: all\ntasks:\n  - command: uptime\n    register: 'a b'\n", "tasks[0].register: got 'a b'"),
    ("hosts: all\ntasks:\n  - command: uptime\n    become: sure\n", "tasks[0].become: got 'sure'; expected true or false"),
    ("tasks:\n  - command: uptime\n", "play.yaml:1: the play has no hosts"),
    ("hosts: all\n", "play.yaml:1: the play has no tasks"),
    ("hosts: all\ntasks: []\n", "play.yaml:2: tasks: got nothing; expected a list of tasks"),
    ("- hosts: a\n  tasks: [{command: x}]\n- hosts: b\n  tasks: [{command: x}]\n",
     "play.yaml:3: 2 plays in one file: not supported yet"),
    ("hosts: all\nhosts: web\ntasks: [{command: x}]\n", "play.yaml:2: hosts: duplicate key (first at line 1)"),
    ("", "play.yaml:1: the playbook is empty"),
    ("hosts: [all\n", "play.yaml:2:1: YAML syntax error"),
])
def test_problems_are_one_located_line(text: str, expected: str, tmp_path: Path) -> None:
    assert expected in error(text, tmp_path)


def test_the_file_is_read_like_an_inventory(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="playbook .*fifo.yaml: is a FIFO"):
        load_playbook(fifo)  # refused at once, never a hang
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    with pytest.raises(ConfigError, match="larger than 10 MiB"):
        load_playbook(big)
    with pytest.raises(ConfigError, match="no such file"):
        load_playbook(tmp_path / "missing.yaml")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_playbook(bomb, tmp_path / "bomb.yaml")


def test_templates_are_sandboxed_strict_and_typed() -> None:
    assert render("{{ paths }}", {"paths": ["/tmp", "/var/tmp"]}) == ["/tmp", "/var/tmp"]
    assert render("n={{ n + 1 }}", {"n": 1}) == "n=2"
    assert render({"a": ["{{ x }}"]}, {"x": "$(touch /tmp/x)"}) == {"a": ["$(touch /tmp/x)"]}
    with pytest.raises(TemplateProblem, match="undefined variable: 'nope' is undefined"):
        render("{{ nope }}", {})
    with pytest.raises(TemplateProblem, match="unsafe"):
        render("{{ x.__class__.__mro__ }}", {"x": 1})
    with pytest.raises(TemplateProblem):
        render("{{ l.append(1) }}", {"l": []})  # immutable: no mutation of data
    assert evaluate("r.rc == 0 and 'x' in r.stdout", {"r": {"rc": 0, "stdout": "xyz"}})
    assert evaluate("{{ a }}", {"a": True}) and not evaluate(False, {})
    with pytest.raises(TemplateProblem, match="undefined"):
        evaluate("missing > 1", {})


def test_modules_are_registered_by_os_family_with_their_check_mode() -> None:
    want = {("posix", "command"): "skip", ("posix", "shell"): "skip", ("posix", "copy"): "plan",
            ("posix", "lineinfile"): "plan", ("posix", "cleanup"): "plan", ("posix", "service"): "plan",
            ("posix", "facts"): "plan", ("windows", "facts"): "plan", ("posix", "assert"): "plan",
            ("windows", "assert"): "plan", ("posix", "script"): "skip", ("posix", "fetch"): "plan",
            ("posix", "package_update"): "plan", ("posix", "printer"): "plan",
            ("posix", "reboot"): "plan", ("posix", "wait_for"): "plan", ("posix", "backup_verify"): "plan",
            ("posix", "fstrim"): "plan", ("posix", "av_update"): "skip"}
    assert set(names()) >= {name for _, name in want}  # other modules may be registered beside these
    assert {key: REGISTRY[key].check_mode for key in want} == want
    assert lookup("windows", "command") is None  # win_* modules register under "windows"


def test_cleanup_roots_and_its_find_expression() -> None:
    from rmmctl.playbooks.posix_cleanup import _find_expr, protected

    for bad in ("/", "//", "/etc", "/etc/", "/usr/local", "/home", "/var", "/var/lib/apt", "/boot/efi", "/proc/1"):
        assert protected(bad), bad
    for fine in ("/tmp", "/var/tmp", "/var/log/nginx", "/home/ann/tmp", "/var/cache/apt/archives", "/srv/x"):
        assert protected(fine) is None, fine
    expr = _find_expr({"older_than_days": 2, "min_size": 10, "patterns": ["*.log", "$(touch x)'"]})
    assert expr == ("-xdev -type f -mmin +2880 -size +9c \\( -name '*.log' -o -name '$(touch x)'\"'\"'' \\)")


def test_defaults_are_beaten_by_inventory_vars_and_vars_beat_both(tmp_path: Path) -> None:
    """`defaults:` (rmmctl's: a shipped playbook's vars that a client's inventory still sets) < inventory
    vars < play `vars:` < -e."""
    from rmmctl.inventory.model import Host
    from rmmctl.playbooks.run import host_vars

    book = parse_playbook("hosts: all\ndefaults: {days: 14, paths: ['/tmp'], note: 'keep {{ days }}'}\n"
                          "vars: {level: high}\ntasks:\n  - command: uptime\n", tmp_path / "play.yaml")
    (play,) = book.plays
    host = Host(name="web01", address="192.0.2.10", vars={"days": 3, "level": "low"})
    got = host_vars(host, play, {})
    assert (got["days"], got["paths"], got["note"], got["level"]) == (3, ["/tmp"], "keep 3", "high")
    assert host_vars(host, play, {"days": "30", "paths": "/srv"})["paths"] == "/srv"
    assert host_vars(Host(name="db01", address="192.0.2.11"), play, {})["days"] == 14


def test_a_name_in_both_defaults_and_vars_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"play.yaml:3: vars.days: days is in both defaults and vars"):
        parse_playbook("hosts: all\ndefaults: {days: 14}\nvars: {days: 3}\ntasks:\n  - command: uptime\n",
                       tmp_path / "play.yaml")
