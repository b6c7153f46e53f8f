"""Common options as users type them: before or after the subcommand, flags beating the inventory, every
number checked, bare `history`, `run` without a command, readable `inventory` output."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from conftest import cli
from fleet import Fleet
from rmmctl import api
from rmmctl.cli import app
from rmmctl.cli.options import Common, common
from rmmctl.inventory.load import load_inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example.yaml"


def _one_line_error(result: Any, code: int, *needles: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _runs(db: str) -> int:
    if not Path(db).exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM runs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


# -- B1: bare `history`, --debug everywhere ---------------------------------------------------------------


def test_bare_history_lists_runs_and_takes_the_runs_options(env: dict[str, str]) -> None:
    assert cli("ping").exit_code == 0  # the embedded default: this machine
    assert cli("ping", "--json").exit_code == 0
    table = cli("history")
    assert table.exit_code == 0, table.stderr
    assert "rmmctl ping" in table.stdout and "Traceback" not in table.stderr
    doc = json.loads(cli("history", "-o", "json", "-n", "1").stdout)
    assert doc["command"] == "history runs" and len(doc["runs"]) == 1
    assert doc["runs"][0]["argv"] == ["ping", "--json"]  # newest first
    assert json.loads(cli("history", "--json", "--command", "ping").stdout)["runs"][0]["command"] == "ping"
    assert json.loads(cli("-o", "json", "history").stdout)["command"] == "history runs"
    assert cli("history", "--debug").exit_code == 0
    misplaced = cli("history", "-n", "2", "audit")
    _one_line_error(misplaced, 2, "history audit")


def test_history_runs_shows_an_unfinished_run_without_none(env: dict[str, str]) -> None:
    from rmmctl.store import Store

    with Store.open(Path(env["RMMCTL_DB"])) as store:
        store.begin_run("run", ["run", "all", "--", "sleep", "60"])
    table = cli("history").stdout
    row = next(line for line in table.splitlines() if "sleep 60" in line)
    assert "None" not in table and "running" in row and "0.00s" not in row
    assert json.loads(cli("history", "--json").stdout)["runs"][0]["exit_code"] is None  # JSON keeps null


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in getattr(group, "commands", {}).items():
        out += _command_paths(cmd, (*prefix, name))
    return out


def test_debug_is_accepted_by_every_command_and_at_the_top(env: dict[str, str]) -> None:
    paths = _command_paths(typer.main.get_command(app))
    assert ("history", "runs") in paths and ("inventory", "graph") in paths and len(paths) > 15
    for path in paths:
        after = cli(*path, "--debug", "-h")
        assert after.exit_code == 0, (path, after.stderr)
        before = cli("--debug", *path, "-h")
        assert before.exit_code == 0, (path, before.stderr)


def test_help_shows_number_ranges_and_v_as_a_counter(env: dict[str, str]) -> None:
    text = cli("ping", "-h", env={"COLUMNS": "200"}).stdout
    verbose = next(line for line in text.splitlines() if "--verbose" in line)
    assert "<int>" not in verbose and "-vv" in verbose and "default: 0" not in verbose
    assert "(1-1000)" in text and "(0.1-86400)" in text and "(0.1-3600)" in text


def test_internal_error_tells_to_pass_debug_and_debug_before_the_command_shows_the_traceback(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(api, "ping", boom)
    monkeypatch.setattr(logging.getLogger("paramiko"), "handlers", [])  # --debug adds one; CliRunner's stream closes
    line = _one_line_error(cli("ping"), 1, "internal error: ZeroDivisionError: boom", "--debug")
    assert line.startswith("rmmctl: error:")
    with pytest.raises(ZeroDivisionError):
        cli("--debug", "ping")


# -- B2: common options before the subcommand ---------------------------------------------------------------


def test_the_example_inventorys_own_try_line_works(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    try_line = re.search(r"Try:\s+rmmctl (.+)$", EXAMPLE.read_text(), re.M)
    assert try_line is not None
    monkeypatch.chdir(ROOT)
    result = cli(*try_line.group(1).split())
    assert try_line.group(1).startswith("-i ")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("@all:") and "|--@acme:" in result.stdout


def test_common_options_before_the_subcommand(env: dict[str, str]) -> None:
    listed = cli("-i", str(EXAMPLE), "-o", "json", "inventory", "list")
    assert listed.exit_code == 0, listed.stderr
    assert len(json.loads(listed.stdout)["hosts"]) >= 8
    status = cli("-o", "json", "status")
    assert json.loads(status.stdout)["command"] == "status", status.stderr
    verbose = cli("-v", "ping")
    assert verbose.exit_code == 0, verbose.stderr
    grouped = cli("-i", str(EXAMPLE), "inventory", "--json", "graph")  # and after the group
    assert json.loads(grouped.stdout)["command"] == "inventory graph"
    limited = cli("-l", "globex", "-i", str(EXAMPLE), "--json", "inventory", "list")
    assert {h["client"] for h in json.loads(limited.stdout)["hosts"]} == {"globex"}


def test_after_the_subcommand_wins_and_a_flag_before_it_beats_the_environment(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("-o", "yaml", "inventory", "list", "-o", "json").stdout.lstrip().startswith("{")
    assert cli("--json", "inventory", "list", "-o", "yaml").stdout.startswith("command:")
    other = tmp_path / "other.yaml"
    other.write_text("hosts:\n  only-me: {address: 127.0.0.1, connection: local}\n")
    names = lambda r: [h["name"] for h in json.loads(r.stdout)["hosts"]]  # noqa: E731
    assert names(cli("-i", str(EXAMPLE), "inventory", "list", "-i", str(other), "--json")) == ["only-me"]
    monkeypatch.setenv("RMMCTL_INVENTORY", str(other))
    assert names(cli("inventory", "list", "--json")) == ["only-me"]
    assert "only-me" not in names(cli("-i", str(EXAMPLE), "inventory", "list", "--json"))


def test_merge_rules_on_a_small_app() -> None:
    """The merge itself: after > before (nearest group first) > env/default; -v counts add up."""
    seen: list[Common] = []
    demo = typer.Typer()
    group = typer.Typer()

    @demo.callback()
    @common
    def _root(*, opts: Common) -> None:
        pass

    @group.callback()
    @common
    def _group(*, opts: Common) -> None:
        pass

    @group.command("leaf")
    @common
    def leaf(*, opts: Common) -> None:
        seen.append(opts)

    demo.add_typer(group, name="g")
    from typer.testing import CliRunner

    def run(*args: str) -> Common:
        result = CliRunner().invoke(demo, list(args))
        assert result.exit_code == 0, result.output
        return seen[-1]

    assert run("g", "leaf").forks == 50 and run("g", "leaf").fmt == "table"
    assert run("-f", "7", "g", "leaf").forks == 7
    assert run("-f", "7", "g", "-f", "8", "leaf").forks == 8
    assert run("-f", "7", "g", "-f", "8", "leaf", "-f", "9").forks == 9
    assert run("-v", "g", "-v", "leaf", "-v").verbose == 3
    assert run("--json", "g", "leaf", "-o", "csv").fmt == "csv"
    assert run("-o", "csv", "g", "leaf").fmt == "csv"
    assert run("-q", "--debug", "--no-color", "g", "leaf").debug is True
    assert run("--connect-timeout", "2", "g", "leaf").connect_timeout == 2.0
    assert run("g", "leaf").connect_timeout is None  # not given: the inventory decides


# -- B3: a flag (or its environment variable) beats the inventory ------------------------------------------------


def _tarpit_inventory(fleet: Fleet, tmp_path: Path, connect_timeout: float) -> Path:
    addr, port = fleet.tarpit()
    path = fleet.write_inventory(tmp_path / "inv.yaml", [1], extra={"defaults": {"connect_timeout": connect_timeout}})
    doc = yaml.safe_load(path.read_text())
    doc["hosts"]["tarpit"] = {"address": addr, "port": port, "user": "root"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _timed_ping(*args: str) -> tuple[float, dict[str, str], int]:
    started = time.monotonic()
    result = cli("ping", *args, "--json")
    elapsed = time.monotonic() - started
    return elapsed, {h["name"]: h["status"] for h in json.loads(result.stdout)["hosts"]}, result.exit_code


def test_connect_timeout_flag_beats_the_inventory(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inv = _tarpit_inventory(fleet, tmp_path, connect_timeout=10)
    elapsed, statuses, code = _timed_ping("-i", str(inv), "--connect-timeout", "1")
    assert statuses == {"fleet-01": "ok", "tarpit": "timeout"} and code == 6
    assert 0.9 <= elapsed < 4, elapsed  # the inventory's 10 s would take 10
    elapsed, statuses, _ = _timed_ping("--connect-timeout", "1", "-i", str(inv))  # before the subcommand too
    assert statuses["tarpit"] == "timeout" and elapsed < 4, elapsed
    monkeypatch.setenv("RMMCTL_CONNECT_TIMEOUT", "1")  # the environment variable beats the inventory too
    elapsed, statuses, _ = _timed_ping("tarpit", "-i", str(inv))
    assert statuses == {"tarpit": "timeout"} and elapsed < 4, elapsed


def test_inventory_connect_timeout_beats_the_built_in_default(fleet: Fleet, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    inv = _tarpit_inventory(fleet, tmp_path, connect_timeout=1)
    elapsed, statuses, _ = _timed_ping("tarpit", "-i", str(inv))
    assert statuses == {"tarpit": "timeout"} and 0.9 <= elapsed < 4, elapsed  # not the default 10 s


def test_run_settings_host_key_policy_beats_the_inventory(fleet: Fleet, env: dict[str, str],
                                                          tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    path = fleet.write_inventory(tmp_path / "inv.yaml", [2], extra={"known_hosts": str(known),
                                                                     "defaults": {"host_key_policy": "accept-new"}})
    inv = load_inventory(path)
    user_known = tmp_path / "user_known_hosts"
    user_known.write_text("")
    settings = api.RunSettings(host_key_policy="strict", user_known_hosts=user_known,
                               ssh_config=tmp_path / "none", connect_timeout=5)
    report = api.ping(inv, "all", settings)
    assert report.hosts[0].status.value == "auth_failed" and report.hosts[0].error.kind == "host_key"
    assert known.read_text() == ""  # strict: nothing accepted
    assert api.ping(inv, "all", api.RunSettings(user_known_hosts=user_known, ssh_config=tmp_path / "none")
                    ).hosts[0].status.value == "ok"  # unset: the inventory's accept-new
    assert fleet.host(2).known_hosts_name in known.read_text()


# -- C9: every number option is finite and in range ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option", "range_"),
    [
        (["ping", "--connect-timeout", "nan"], "--connect-timeout", "from 0.1 to 3600"),
        (["--connect-timeout", "inf", "ping"], "--connect-timeout", "from 0.1 to 3600"),
        (["ping", "--timeout", "inf"], "--timeout", "from 0.1 to 86400"),
        (["status", "--timeout", "1e308"], "--timeout", "from 0.1 to 86400"),
        (["ping", "--timeout", "-1"], "--timeout", "from 0.1 to 86400"),
        (["ping", "--timeout", "0"], "--timeout", "from 0.1 to 86400"),
        (["ping", "--timeout", "soon"], "--timeout", "from 0.1 to 86400"),
        (["ping", "--forks", "0"], "--forks", "from 1 to 1000"),
        (["ping", "-f", "-3"], "--forks", "from 1 to 1000"),
        (["--forks", "1e9", "ping"], "--forks", "from 1 to 1000"),
        (["history", "-n", "-1"], "--count", "from 1 to 1000000"),
        (["history", "runs", "-n", "99999999999999999999"], "--count", "from 1 to 1000000"),
        (["history", "audit", "--run", "99999999999999999999"], "--run", "from 1 to 9223372036854775807"),
        (["history", "metrics", "h", "-n", "0"], "--count", "from 1 to 1000000"),
        (["logs", "-n", "-5"], "--count", "from 1 to 1000000"),
        (["logs", "--follow", "--interval", "nan"], "--interval", "from 1 to 86400"),
        (["run", "--command-timeout", "inf", "--", "true"], "--command-timeout", "from 0.1 to 86400"),
    ],
)
def test_bad_numbers_are_one_line_usage_errors(env: dict[str, str], args: list[str], option: str,
                                               range_: str) -> None:
    _one_line_error(cli(*args), 2, option, range_)
    assert _runs(env["RMMCTL_DB"]) == 0  # nothing ran


def test_bad_number_in_the_environment_is_a_usage_error(env: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_CONNECT_TIMEOUT", "nan")
    _one_line_error(cli("ping"), 2, "RMMCTL_CONNECT_TIMEOUT", "from 0.1 to 3600")


@pytest.mark.parametrize("value", [".inf", ".nan", "1e308", "-.inf", "3601"])
def test_bad_inventory_connect_timeout_is_exit_3_with_file_line_and_key(env: dict[str, str], tmp_path: Path,
                                                                        value: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"hosts:\n  w:\n    address: 192.0.2.1\n    connect_timeout: {value}\n")
    _one_line_error(cli("inventory", "check", "-i", str(inv)), 3, f"{inv}:4: hosts.w.connect_timeout",
                    "seconds")
    ini = tmp_path / "hosts.ini"
    ini.write_text(f"[web]\nw1 connect_timeout={value.lstrip('.')}\n")
    _one_line_error(cli("inventory", "check", "-i", str(ini)), 3, str(ini), "connect_timeout", "seconds")


def test_nan_threshold_var_fails_the_host_instead_of_silencing_the_check(env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  me:\n    address: 127.0.0.1\n    connection: local\n"
                   "    vars:\n      disk_warn_pct: .nan\n")
    result = cli("diagnose", "-i", str(inv), "--check", "disk", "--json")
    host = json.loads(result.stdout)["hosts"][0]
    assert host["status"] == "error" and "vars.disk_warn_pct must be a finite number" in host["error"]["message"]
    assert result.exit_code != 0


# -- C13: `run` must be given a command ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--shell", ""], "run needs a command"),
        (["run", "all", "--shell", ""], "--shell needs a command line"),
        (["run", "all", "--shell", "  \t"], "--shell needs a command line"),
        (["run", "--shell", "--", ""], "--shell needs a command line"),
        (["run", "all", "--", ""], "the command is empty"),
        (["run"], "run needs a command"),
        (["run", "all"], "run needs a command"),
        (["run", "all", "--"], "run needs a command"),
    ],
)
def test_run_without_a_command_is_a_usage_error_and_runs_nothing(env: dict[str, str], args: list[str],
                                                                  needle: str) -> None:
    _one_line_error(cli(*args), 2, needle)
    assert _runs(env["RMMCTL_DB"]) == 0


# -- B8: `inventory` output for people ---------------------------------------------------------------------


def test_inventory_list_says_1_host_and_check_counts_agree(env: dict[str, str]) -> None:
    one = cli("inventory", "list", "rmm-runner", "-i", str(EXAMPLE))
    assert one.stdout.rstrip().splitlines()[-1] == "1 host"
    many = cli("inventory", "list", "acme", "-i", str(EXAMPLE))
    assert many.stdout.rstrip().splitlines()[-1] == "7 hosts"  # six, and the cups01 print server
    assert "ok: 1 host, " in cli("inventory", "check").stdout  # the embedded default


def test_inventory_host_prints_lists_and_vars_readably(env: dict[str, str], tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  w:\n    address: 192.0.2.1\n    tags: [a, b]\n    vars:\n"
                   "      nothing: null\n      flag: true\n      paths: [/srv, /home]\n      nested: {x: 1}\n")
    table = cli("inventory", "host", "w", "-i", str(inv))
    assert table.exit_code == 0, table.stderr
    out = table.stdout
    for python_repr in ("['", "{'", "None", "True"):
        assert python_repr not in out, out
    rows = {tuple(cell.strip() for cell in line.split("│")[1:-1]) for line in out.splitlines() if "│" in line}
    assert {("tags", "a, b"), ("vars.flag", "true"), ("vars.paths", "/srv, /home"), ("vars.nested.x", "1"),
            ("vars.nothing", "")} <= rows, rows
    data = json.loads(cli("inventory", "host", "w", "-i", str(inv), "--json").stdout)["vars"]
    assert data["tags"] == ["a", "b"] and data["vars"]["nested"] == {"x": 1} and data["vars"]["nothing"] is None
