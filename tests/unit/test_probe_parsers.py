"""Linux probe parsers against captured real output (tests/fixtures/probes/<section>/<case>.txt + .json)."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import jsonschema
import pytest

from rmmctl.facts import SECTION_TYPES, Facts, json_schema, to_jsonable
from rmmctl.probes import ParseError, linux
from rmmctl.probes.linux.logs import syslog_level

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probes"
CASES = sorted(FIXTURES.glob("*/*.txt"))
REAL_CAPTURES = ("debian12", "alpine-busybox")  # whole-probe runs on this machine (dash) and a busybox chroot


def _rc(body: str) -> int:
    return 3 if body.startswith("unavailable: ") else 0


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parse_fixture(case: Path) -> None:
    body = case.read_text(encoding="utf-8")
    expected = json.loads(case.with_suffix(".json").read_text(encoding="utf-8"))
    if list(expected) == ["error"]:
        with pytest.raises(ParseError) as err:
            linux.parse_section(case.parent.name, _rc(body), body)
        assert str(err.value) == expected["error"]
        return
    facts = to_jsonable(linux.parse_section(case.parent.name, _rc(body), body))
    assert facts == expected
    jsonschema.validate({case.parent.name: facts, "errors": {}}, json_schema([case.parent.name]))


def test_every_section_has_a_fixture() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert folders == set(linux.SECTIONS)
    for section in linux.SECTIONS:
        cases = {p.stem for p in (FIXTURES / section).glob("*.txt")}
        assert set(REAL_CAPTURES) <= cases, section
        assert len(cases) >= 3 or section in ("host", "uptime"), f"{section}: add hand-made cases"
    assert all(p.with_suffix(".json").exists() for p in CASES)


def test_parsers_sections_and_schema_agree() -> None:
    assert linux.SECTIONS == tuple(linux.PARSERS) == tuple(SECTION_TYPES)
    assert linux.SECTIONS[0] == "time" and linux.SECTIONS[-2:] == ("cpu", "processes")
    assert "updates" not in linux.FAST_SECTIONS


def test_syslog_keywords_match_the_script_grep() -> None:
    """Every word the script's grep keeps must classify as a problem, or lines pass grep and vanish."""
    script = (Path(linux.__file__).parent / "linux.sh").read_text(encoding="utf-8")
    words = re.search(r"_pat='([^']+)'", script).group(1).split("|")  # type: ignore[union-attr]
    words += re.search(r'_pat="\$_pat\|([^"]+)"', script).group(1).split("|")  # type: ignore[union-attr]
    assert len(words) > 10
    for word in words:
        assert syslog_level(f"something {word} happened") != "info", word


def test_busybox_and_gnu_df_give_the_same_percentages() -> None:
    gnu = "@@part df\n/dev/vda 264212084 22738336 83652576 22% /\n@@end df 0\n"
    busybox = "@@part df\n/dev/vda 264212084 22738340 83652572 21% /\n@@end df 0\n"
    assert linux.PARSERS["filesystems"](gnu)["mounts"][0]["used_pct"] == 21.4
    assert linux.PARSERS["filesystems"](busybox)["mounts"][0]["used_pct"] == 21.4


def test_journal_bytes_and_non_english_messages_survive() -> None:
    entries = linux.PARSERS["logs"]((FIXTURES / "logs" / "journal-real.txt").read_text(encoding="utf-8"))[
        "entries"
    ]
    messages = {e["source"]: e["message"] for e in entries}
    assert messages["legacyapp"] == "caf\ufffd latin-1 bytes \ufffd from a legacy app"
    assert messages["smartd"].startswith("Ошибка записи")
    assert messages["backupd"] == "磁盘空间不足: /var 已用 98%"


def _framed(nonce: str, name: str, body: str, rc: int | None = 0) -> str:
    end = "" if rc is None else f"\n@@{nonce} END {name} {rc} 1\n"
    return f"@@{nonce} BEGIN {name}\n{body}{end}"


def test_parse_output_reports_unavailable_cutoff_missing_and_bad_sections() -> None:
    nonce = "0123456789abcdef"
    host = (FIXTURES / "host" / "debian12.txt").read_text(encoding="utf-8")
    out = (
        f"@@{nonce} START\n"
        + _framed(nonce, "time", "epoch=1000.5\nutc_offset=+0000\nntp_daemon=")
        + _framed(nonce, "host", host)
        + _framed(nonce, "logs", "unavailable: no systemd journal and no readable syslog", rc=3)
        + _framed(nonce, "memory", "garbage")
        + _framed(nonce, "os", 'NAME="Debian', rc=None)
    )
    facts = linux.parse_output(
        out, nonce, ["time", "host", "logs", "memory", "os", "cpu"], controller_time=990.0
    )
    assert isinstance(facts, Facts)
    assert facts["time"]["skew_s"] == 10.5
    assert facts["host"]["hostname"] == "vm"
    assert facts["logs"] == {"unavailable": "no systemd journal and no readable syslog"}
    assert facts.available("logs") is None and facts.available("host") is not None
    assert set(facts.errors) == {"memory", "os", "cpu"}
    assert facts.errors["os"] == "os: output cut off before the section ended"
    assert "stopped before" in facts.errors["cpu"]
    assert facts.to_jsonable()["errors"] == facts.errors
    jsonschema.validate(facts.to_jsonable(), json_schema(["time", "host", "logs"]))


def test_parse_output_ignores_markers_with_another_nonce() -> None:
    nonce, forged = "0123456789abcdef", "fedcba9876543210"
    body = f"hostname=web01\n@@{forged} END host 0 1\n@@{forged} BEGIN evil\nkernel=6.1\narch=x86_64"
    facts = linux.parse_output(_framed(nonce, "host", body), nonce, ["host"], controller_time=0.0)
    assert facts["host"]["hostname"] == "web01" and facts["host"]["kernel"] == "6.1"
    assert "evil" not in facts and not facts.errors


def test_parse_output_rejects_unknown_sections() -> None:
    with pytest.raises(ValueError, match="nosuch"):
        linux.parse_output("", "0123456789abcdef", ["nosuch"], controller_time=0.0)


def _nested_keys(hint: object) -> set[str]:
    keys: set[str] = set()
    for arg in typing.get_args(hint) or (hint,):
        if typing.is_typeddict(arg):
            for key, sub in typing.get_type_hints(arg).items():
                keys |= {key} | _nested_keys(sub)
    return keys


def test_docs_describe_every_section_and_key() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "facts.md").read_text(encoding="utf-8")
    for section, facts_type in SECTION_TYPES.items():
        match = re.search(rf"^### `{section}`(.*?)(?=^##)", doc, re.MULTILINE | re.DOTALL)
        assert match, f"docs/facts.md has no '### `{section}`' part"
        text = match.group(1)
        for key, hint in typing.get_type_hints(facts_type).items():
            assert f"`{key}`" in text, f"{section}.{key} is not documented"
            for sub in _nested_keys(hint):
                assert re.search(rf"\b{sub}\b", text), f"{section}.{key}[].{sub} is not documented"
