"""rmmctl.doctor_winrm's pure parts: the auth step's fix from the methods offered, the PowerShell version."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rmmctl import doctor_winrm
from rmmctl.doctor import Steps
from rmmctl.models import Status


@pytest.mark.parametrize(("auth", "offered", "fix"), [
    ("basic", ["Negotiate", "Kerberos"], "server offers Negotiate, Kerberos; use winrm_transport: ntlm"),
    ("ntlm", ["Kerberos"], "server offers Kerberos; use winrm_transport: kerberos"),
    ("credssp", ["Basic"], "server offers Basic; use winrm_transport: basic "
                           "(or enable credssp on the host: Enable-WSManCredSSP -Role Server -Force)"),
])
def test_a_method_not_offered_names_one_that_is(auth: str, offered: list[str], fix: str) -> None:
    steps = Steps()
    t = SimpleNamespace(auth=auth, authenticate=lambda: pytest.fail("no login with a method not offered"))
    assert doctor_winrm._auth(steps, t, offered) is Status.AUTH_FAILED  # type: ignore[arg-type]
    assert steps.failed is not None and steps.failed["fix"] == fix


def test_the_powershell_major_version() -> None:
    assert doctor_winrm._major("5.1.17763.592") == 5
    assert doctor_winrm._major("2.0") == 2
    assert doctor_winrm._major("?") == 0
