"""`logs --follow`: a Ctrl-C that the executor caught during a poll ends the loop with 130."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmmctl import api
from rmmctl.cli import app
from rmmctl.cli import health as cli_health
from rmmctl.models import RunReport


def test_an_interrupted_poll_stops_following(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "db"))
    monkeypatch.delenv("RMMCTL_INVENTORY", raising=False)
    calls: list[bool] = []

    def logs(*args: object, **kwargs: object) -> RunReport:  # the executor caught SIGINT mid-poll
        calls.append(True)
        return RunReport("logs", time.time(), 0.1, (), interrupted=True)

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"kept polling after the interrupt (sleep {seconds})")

    monkeypatch.setattr(api, "logs", logs)
    monkeypatch.setattr(cli_health.time, "sleep", no_sleep)
    result = CliRunner().invoke(app, ["logs", "--follow", "--interval", "3600"])
    assert result.exit_code == 130, result.output
    assert calls == [True]
