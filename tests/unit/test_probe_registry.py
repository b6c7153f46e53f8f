"""The prober layer: one collect(ctx, sections, params) that picks the prober by the host's platform."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from localctx import local_context
from rmmctl import probes
from rmmctl.executor import HostContext
from rmmctl.facts import Facts
from rmmctl.inventory.model import Host
from rmmctl.probes import linux, local
from rmmctl.transports import TransportOptions
from rmmctl.transports.fake import FakeHost, FakeTransport

SRC = Path(probes.__file__).resolve().parents[1]


class RecordingProber:
    """A stand-in prober that says what it was asked, for the dispatch tests."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.sections = ("os",)
        self.calls: list[tuple[str, tuple[str, ...], dict[str, Any], dict[str, Any]]] = []

    def collect(self, ctx: HostContext, sections: Sequence[str], params: Mapping[str, Any] | None = None,
                **options: Any) -> Facts:
        self.calls.append((ctx.host.name, tuple(sections), dict(params or {}), options))
        return Facts({"os": {"family": self.platform}})


def context(host: Host) -> HostContext:
    return HostContext(host, FakeTransport(host, FakeHost()), None, TransportOptions().redactor)


@pytest.fixture
def windows() -> Any:
    prober = RecordingProber("windows")
    probes.register(prober)
    yield prober
    probes.unregister("windows")


def test_platform_of_a_host() -> None:
    assert probes.platform_of(Host("a", "127.0.0.1", connection="local")) == "local"
    assert probes.platform_of(Host("b", "192.0.2.2", connection="winrm")) == "windows"
    assert probes.platform_of(Host("c", "192.0.2.3", os="windows")) == "windows"  # Windows OpenSSH
    assert probes.platform_of(Host("d", "192.0.2.4")) == "linux"
    assert probes.platform_of(Host("e", "192.0.2.5", os="freebsd")) == "linux"  # the sh probe answers what it can


def test_collect_dispatches_by_platform(windows: RecordingProber) -> None:
    facts = probes.collect(context(Host("ws01", "192.0.2.9", connection="winrm")), ["os"], {"X": "1"},
                           since=5.0, log_level="warning", log_limit=7)
    assert facts["os"] == {"family": "windows"}
    assert windows.calls == [("ws01", ("os",), {"X": "1"}, {"since": 5.0, "log_level": "warning",
                                                            "log_limit": 7})]


def test_builtin_probers_and_unknown_platforms() -> None:
    assert probes.prober_for("linux") is linux.PROBER and probes.prober_for("local") is local.PROBER
    assert probes.known_sections("linux") == linux.SECTIONS
    from rmmctl.probes import windows

    assert probes.prober_for("windows") is windows.PROBER and "os" in probes.known_sections("windows")
    with pytest.raises(probes.ProbeError, match="^no prober for platform 'aix' \\(known: linux, local, windows\\)$"):
        probes.prober_for("aix")


def test_a_registered_prober_replaces_a_builtin_one_and_unregister_restores_it() -> None:
    fake = RecordingProber("linux")
    assert probes.register(fake) is linux.PROBER
    try:
        probes.collect(context(Host("web01", "192.0.2.1")), ["os"])
        assert fake.calls[0][0] == "web01"
    finally:
        probes.unregister("linux")
    assert probes.prober_for("linux") is linux.PROBER


def test_the_local_machine_goes_through_its_transport() -> None:
    ctx = local_context()
    facts = probes.collect(ctx, ["os", "reboot"])
    assert facts["os"]["family"] == "linux" and [e.detail for e in ctx.audit] == ["probe: reboot"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_psutil_only_in_probes_local_and_no_transports_to_probes_arrow() -> None:
    files = sorted(SRC.rglob("*.py"))
    psutil_users = [p.relative_to(SRC).as_posix() for p in files if any(n.split(".")[0] == "psutil"
                                                                        for n in _imports(p))]
    assert psutil_users == ["probes/local.py"]
    arrows = [p.relative_to(SRC).as_posix() for p in (SRC / "transports").rglob("*.py")
              if any(n.startswith("rmmctl.probes") for n in _imports(p))]
    assert arrows == []


def test_one_section_availability_rule_everywhere() -> None:
    from rmmctl.checks import base
    from rmmctl.facts import section, unavailable_reason

    facts = Facts({"os": {"id": "x"}, "av": {"unavailable": "no ClamAV"}}, {"cpu": "cpu: cut off"})
    for view in (facts, facts.to_jsonable()):
        assert section(view, "os") == {"id": "x"}
        assert section(view, "av") is None and section(view, "cpu") is None and section(view, "nope") is None
    assert facts.available("os") == {"id": "x"} and facts.available("av") is None
    assert base.section is section
    assert unavailable_reason(facts["av"]) == "no ClamAV" and unavailable_reason(facts["os"]) is None
    # nobody else decides it: no module but rmmctl.facts tests for the "unavailable" key
    offenders = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if p.name != "facts.py"
                 and any(isinstance(n, ast.Constant) and n.value == "unavailable"
                         for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert offenders == []


def test_one_cpu_field_list_for_the_parser_and_psutil() -> None:
    from rmmctl.probes.linux import system

    names = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
             if '"softirq"' in p.read_text(encoding="utf-8")]
    assert names == ["probes/linux/system.py"]
    assert local.CPU_FIELDS is system.CPU_FIELDS
