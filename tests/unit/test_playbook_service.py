"""The POSIX `service` module without a host: name validation at load, the systemd state parsing (pure,
over captured `systemctl is-active` / `is-enabled` outputs) and what it plans from a state."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.playbooks import load_playbook
from rmmctl.playbooks.modules import ArgProblem, lookup, normalize_args
from rmmctl.playbooks.posix_service import ServiceState, _Failed, parse_state, parse_systemd, plan_actions


def spec():
    found = lookup("posix", "service")
    assert found is not None and found.check_mode == "plan"
    return found


@pytest.mark.parametrize("name", ["x;reboot", "$(touch /tmp/x)", "a/b", "../x", "-x", "a b", "`id`", "x|y", ""])
def test_a_name_with_shell_characters_or_slashes_is_refused(name: str) -> None:
    with pytest.raises(ArgProblem, match="name: got"):
        normalize_args(spec(), {"name": name, "state": "started"}, templated=True)


def test_good_names_and_the_rules(tmp_path: Path) -> None:
    for name in ("ssh", "cups", "getty@tty1", "systemd-journald.service", "php8.2-fpm", "x_y+z:1"):
        assert normalize_args(spec(), {"name": name, "state": "started"}, templated=True)["name"] == name
    args = normalize_args(spec(), {"name": "ssh", "enabled": "yes"}, templated=True)
    assert args == {"name": "ssh", "state": None, "enabled": True}
    with pytest.raises(ArgProblem, match="give state or enabled"):
        normalize_args(spec(), {"name": "ssh"}, templated=True)
    with pytest.raises(ArgProblem, match="state: got 'running'"):
        normalize_args(spec(), {"name": "ssh", "state": "running"}, templated=True)
    book = tmp_path / "play.yaml"
    book.write_text("hosts: all\ntasks:\n  - service: {name: \"x;reboot\", state: started}\n")
    with pytest.raises(ConfigError, match=r"play.yaml:3: .*service.name: got 'x;reboot'"):
        load_playbook(book)


@pytest.mark.parametrize(("active", "enabled", "running", "on"), [
    ("active\n", "enabled\n", True, True),
    ("inactive", "disabled", False, False),
    ("failed", "enabled", False, True),
    ("activating", "enabled-runtime", True, True),
    ("reloading", "alias", True, True),
    ("active", "static", True, None),
    ("inactive", "masked", False, None),
    ("active", "indirect", True, None),
    ("deactivating", "generated", False, None),
])
def test_systemd_state_parsing(active: str, enabled: str, running: bool, on: bool | None) -> None:
    st = parse_systemd(active, enabled)
    assert (st.manager, st.running, st.enabled) == ("systemd", running, on)


def test_a_missing_unit_fails_and_the_state_script_answer_is_parsed() -> None:
    for enabled in ("", "not-found"):
        with pytest.raises(_Failed, match="no such unit"):
            parse_systemd("inactive", enabled)
    st = parse_state("systemd\nactive=active\nenabled=disabled\n", "ssh", "/etc/init.d")
    assert (st.running, st.enabled) == (True, False)
    assert parse_state("init\nstatus=0\n", "x", "/etc/init.d").running is True
    assert parse_state("init\nstatus=3\n", "x", "/etc/init.d").running is False
    with pytest.raises(_Failed, match="status: exit 4"):
        parse_state("init\nstatus=4\n", "x", "/etc/init.d")
    with pytest.raises(_Failed, match="no init script /srv/init/x"):
        parse_state("none\n", "x", "/srv/init/")


def test_changed_only_when_it_changes() -> None:
    up, down = ServiceState("systemd", True, True), ServiceState("systemd", False, False)
    assert plan_actions(up, "started", True) == []
    assert plan_actions(down, "started", True) == ["enable", "start"]
    assert plan_actions(up, "stopped", False) == ["disable", "stop"]
    assert plan_actions(down, "stopped", None) == []
    assert plan_actions(up, "restarted", None) == ["restart"]
    assert plan_actions(up, "reloaded", None) == ["reload"]
    assert plan_actions(down, "reloaded", None) == ["start"]
    with pytest.raises(_Failed, match="cannot enable it"):
        plan_actions(ServiceState("systemd", True, None, "is-enabled static"), None, True)
    with pytest.raises(_Failed, match="enabled is not supported for init scripts"):
        plan_actions(ServiceState("init", True, None), "started", True)


class _Result:
    def __init__(self, stdout: str, exit_code: int = 0) -> None:
        self.stdout, self.stderr, self.exit_code = stdout, "", exit_code


class _Ctx:
    """Records every exec with its keywords; answers the state read with `state`."""

    def __init__(self, state: str) -> None:
        self.state, self.calls = state, []
        self.host = type("H", (), {"vars": {}})()

    def run(self, command: str, **kwargs: object) -> _Result:
        self.calls.append((command, kwargs))
        return _Result(self.state if command.startswith("sh -c ") else "")


def _call(ctx: _Ctx, check: bool, **args: object):
    from rmmctl.playbooks.modules import ModuleCall

    return ModuleCall(ctx, normalize_args(spec(), args, templated=True), check=check, become=True)  # type: ignore[arg-type]


def test_one_exec_to_read_one_to_act_through_ctx_run_with_become() -> None:
    ctx = _Ctx("systemd\nactive=inactive\nenabled=disabled\n")
    result = spec().run(_call(ctx, True, name="getty@tty1", state="started", enabled=True))
    assert (result.status, result.msg) == ("changed", "would enable, start getty@tty1 (systemd; check mode)")
    assert len(ctx.calls) == 1 and ctx.calls[0][1]["become"] is True  # check mode: the read only
    result = spec().run(_call(ctx, False, name="getty@tty1", state="started", enabled=True))
    assert result.status == "changed" and len(ctx.calls) == 3
    assert ctx.calls[2] == ("systemctl enable -- getty@tty1 && systemctl start -- getty@tty1", {"become": True})
    ctx = _Ctx("systemd\nactive=active\nenabled=enabled\n")
    assert spec().run(_call(ctx, False, name="ssh", state="started", enabled=True)).status == "ok"
    assert len(ctx.calls) == 1
