"""Shared fixtures: the real sshd fleet (session scope) and hermetic SSH options.

Tests never read the real ~/.ssh: `ssh_options` points known_hosts and ssh_config at temp files,
HOME at an empty temp dir and removes the agent socket from the environment.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests and benchmarks can `import fleet`

from typer.testing import CliRunner, Result

from fleet import Fleet, requirements_missing
from rmmctl.cli import app
from rmmctl.transports import TransportOptions

FLEET_SIZE = 10

# pytest-xdist's workers get COLUMNS=80 from their controller: rmmctl's tables would be cut at 80 columns
# there while a serial run (no terminal, no COLUMNS) prints them 160 wide. Each worker runs like the serial run.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

# A suite started in the background (`pytest &` from a script, `nohup ... &`) inherits SIGINT ignored,
# and so would every rmmctl the tests start (an ignored signal survives exec): the Ctrl-C tests would
# then wait in vain. The tests' children get the default SIGINT whatever started the suite.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the fleet carries the `fleet` marker (select with -m fleet). The opt-in
    `live_winrm` tests are deselected (not skipped) unless RMMCTL_TEST_WINRM_HOST names a real host."""
    for item in items:
        if "fleet" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.fleet)
    if not os.environ.get("RMMCTL_TEST_WINRM_HOST"):
        live = [item for item in items if item.get_closest_marker("live_winrm")]
        if live:
            config.hook.pytest_deselected(items=live)
            items[:] = [item for item in items if not item.get_closest_marker("live_winrm")]


def require_fleet() -> None:
    """Skip (or, under CI, fail) the calling test when the sshd fleet cannot run here."""
    reason = requirements_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"sshd fleet unavailable in CI: {reason}; .ci/run must install openssh-server and run as root",
                    pytrace=False)
    pytest.skip(f"sshd fleet unavailable: {reason}")


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Ten real sshd hosts (fleet-01..fleet-10 on 127.0.77.2..11), stopped at the end of the session."""
    require_fleet()
    with Fleet(tmp_path_factory.mktemp("fleet")) as running:
        running.start(FLEET_SIZE)
        yield running


@pytest.fixture
def ssh_options(tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> TransportOptions:
    """Options trusting the fleet through its inventory known_hosts; empty user known_hosts and ssh_config."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # default keys and ~/.ssh/config come from an empty home
    user_known = tmp_path / "user_known_hosts"
    user_known.write_text("")
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("")
    return TransportOptions(
        connect_timeout=5.0,
        command_timeout=20.0,
        known_hosts=(fleet.known_hosts,),
        user_known_hosts=user_known,
        ssh_config=ssh_config,
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A hermetic HOME (no real ~/.ssh), its own history database, no agent, no inventory or CUPS from outside.
    Returns HOME and RMMCTL_DB, to pass to subprocesses too."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "rmmctl.db"))
    for name in ("SSH_AUTH_SOCK", "RMMCTL_INVENTORY", "CUPS_SERVER"):
        monkeypatch.delenv(name, raising=False)
    return {"HOME": str(home), "RMMCTL_DB": str(tmp_path / "rmmctl.db")}


def cli(*args: str, **kwargs: object) -> Result:
    """Run rmmctl in-process as a user would; a crash re-raises, an exit code is in the result."""
    result = CliRunner().invoke(app, list(args), **kwargs)  # type: ignore[arg-type]
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
