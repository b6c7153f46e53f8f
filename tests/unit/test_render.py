"""Renderers: the JSON envelope and its schemas, ndjson, YAML, CSV, the rich table and run output."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from rich.console import Console

from rmmctl.errors import UsageError
from rmmctl.models import AuditEntry, HostError, HostResult, RunReport, Status
from rmmctl.render import FORMATS, emit
from rmmctl.render.data import (
    STATUS_KEYS,
    Column,
    envelope,
    host_dict,
    summary_line,
    write_csv,
    write_json,
    write_ndjson_host,
    write_yaml,
)
from rmmctl.render.table import render_outputs, render_table

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
T0 = 1_714_564_800.1234  # 2024-05-01T12:00:00.123Z
ERRORS = {
    Status.UNREACHABLE: HostError("connect", "connection refused"),
    Status.AUTH_FAILED: HostError("auth", "permission denied (publickey)"),
    Status.TIMEOUT: HostError("timeout", "no answer within 10 s"),
    Status.ERROR: HostError("internal", "KeyError: 'x'"),
    Status.INTERRUPTED: HostError("interrupted", "not started"),
}


def _run_data(rc: int = 0, out: str = "hello\n", err: str = "") -> dict[str, Any]:
    return {"command": "uptime", "exit_code": rc, "stdout": out, "stderr": err, "duration_s": 0.012}


def _ping_data(i: int) -> dict[str, Any]:
    return {"transport": "ssh", "user": "root", "remote_hostname": f"h{i}", "rtt_ms": 1.5}


def every_status(data: Any = _run_data, command: str = "run") -> RunReport:
    """One host per status; the ones with an error have no data (as the executor makes them)."""
    hosts = []
    for i, status in enumerate(Status):
        error = ERRORS.get(status)
        d = {} if error or status is Status.SKIPPED else data(i) if data is _ping_data else data()
        audit = (AuditEntry(f"h{i}", "exec", "uptime", 0, 0.01, T0),)
        hosts.append(HostResult(f"h{i}", f"127.0.0.{i + 1}", status, error, d, 0.12345, audit))
    return RunReport(command, T0, 1.23456, tuple(hosts))


def small() -> RunReport:
    hosts = (
        HostResult("web1", "192.0.2.1", Status.OK, data=_run_data(), duration_s=0.1),
        HostResult("web2", "192.0.2.2", Status.FAILED, data=_run_data(2, "", "boom\n"), duration_s=0.2),
        HostResult("db1", "192.0.2.3", Status.UNREACHABLE, ERRORS[Status.UNREACHABLE], duration_s=3),
        HostResult("db2", "192.0.2.4", Status.OK, data=_run_data(0, "a\nb\n"), duration_s=0.1),
    )
    return RunReport("run", T0, 1.234, hosts)


COLUMNS = [
    Column("rc", lambda h: h.data["exit_code"], justify="right"),
    Column("Tags", lambda h: ["x", "y"] if h.data else None),
]


def console(width: int = 100, **kw: Any) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None, **kw)


def text_of(c: Console) -> str:
    return c.file.getvalue()  # type: ignore[attr-defined]


# -- the envelope -------------------------------------------------------------------------------


def test_envelope_shape_and_values() -> None:
    doc = envelope(every_status(), 7)
    assert list(doc) == ["schema", "command", "started_at", "duration_s", "hosts", "summary"]
    assert (doc["schema"], doc["command"], doc["started_at"], doc["duration_s"]) == (
        "rmmctl/v1", "run", "2024-05-01T12:00:00.123Z", 1.235)
    summary = doc["summary"]
    assert {k: summary[k] for k in STATUS_KEYS} == {s.value: 1 for s in Status}
    assert (summary["hosts"], summary["exit_code"], summary["run_interrupted"]) == (len(Status), 7, False)
    assert [h["name"] for h in doc["hosts"]] == [f"h{i}" for i in range(len(Status))]


def test_host_dict_has_error_or_null_and_no_audit() -> None:
    ok, down = small().hosts[0], small().hosts[2]
    assert host_dict(ok) == {"name": "web1", "address": "192.0.2.1", "status": "ok", "error": None,
                             "duration_s": 0.1, "data": _run_data()}
    assert host_dict(down)["error"] == {"kind": "connect", "message": "connection refused"}
    assert "audit" not in host_dict(every_status().hosts[0])


def test_summary_has_every_status_even_when_zero_and_the_interrupt_flag() -> None:
    host = HostResult("a", "a", Status.INTERRUPTED, ERRORS[Status.INTERRUPTED])
    report = RunReport("ping", T0, 0.5, (host,), interrupted=True)
    line = summary_line(report)
    assert line["type"] == "summary" and line["schema"] == "rmmctl/v1"
    assert line["summary"]["exit_code"] == 130 and line["summary"]["run_interrupted"] is True
    assert line["summary"]["interrupted"] == 1 and line["summary"]["ok"] == 0
    assert set(STATUS_KEYS) <= set(line["summary"])


def test_data_is_made_json_safe() -> None:
    host = HostResult("a", "a", Status.OK, data={"t": (1, 2), "s": Status.WARN, "n": float("nan"), 3: {"x"}})
    assert host_dict(host)["data"] == {"t": [1, 2], "s": "warn", "n": None, "3": ["x"]}


def test_json_is_sorted_and_round_trips() -> None:
    out = io.StringIO()
    doc = envelope(every_status(), 7)
    write_json(doc, out)
    text = out.getvalue()
    assert json.loads(text) == doc and text.endswith("}\n")
    positions = [text.index(f'"{key}"') for key in ("command", "duration_s", "hosts", "schema")]
    assert positions == sorted(positions)


def test_yaml_loads_back_to_the_json_document() -> None:
    out = io.StringIO()
    doc = envelope(every_status(), 7)
    write_yaml(doc, out)
    assert yaml.safe_load(out.getvalue()) == json.loads(json.dumps(doc))


class FlushCounter(io.StringIO):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_ndjson_host_lines_are_flushed_one_by_one() -> None:
    out = FlushCounter()
    report = small()
    for i, host in enumerate(report.hosts, start=1):
        write_ndjson_host(host, out)
        assert out.flushes == i and out.getvalue().count("\n") == i
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["type"] for x in lines] == ["host"] * 4
    assert lines[2] == {"type": "host", **host_dict(report.hosts[2])}


# -- the schemas --------------------------------------------------------------------------------


def _validator(name: str) -> jsonschema.Draft202012Validator:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize(("name", "report"), [
    ("envelope.schema.json", every_status()),
    ("run.schema.json", every_status()),
    ("ping.schema.json", every_status(_ping_data, "ping")),
])
def test_schemas_accept_real_documents(name: str, report: RunReport) -> None:
    doc = json.loads(json.dumps(envelope(report, 7)))
    errors = [e.message for e in _validator(name).iter_errors(doc)]
    assert errors == []


def _breaks(name: str, doc: dict[str, Any]) -> bool:
    return not _validator(name).is_valid(doc)


def test_schemas_reject_broken_documents() -> None:
    good = json.loads(json.dumps(envelope(every_status(), 5)))
    for mutate in (
        lambda d: d["summary"].pop("skipped"),
        lambda d: d["hosts"][0].update(status="fine"),
        lambda d: d["hosts"][0].update(error={"kind": "x"}),
        lambda d: d.update(started_at="2024-05-01 12:00:00"),
        lambda d: d.update(schema="rmmctl/v2"),
        lambda d: d["hosts"][1].pop("data"),
    ):
        doc = json.loads(json.dumps(good))
        mutate(doc)
        assert _breaks("envelope.schema.json", doc)
    no_stdout = json.loads(json.dumps(good))
    del no_stdout["hosts"][0]["data"]["stdout"]
    assert not _breaks("envelope.schema.json", no_stdout) and _breaks("run.schema.json", no_stdout)
    assert _breaks("ping.schema.json", good)  # run data is not ping data


def test_ndjson_lines_match_their_schema_definitions() -> None:
    envelope_schema = json.loads((SCHEMAS / "envelope.schema.json").read_text())
    report = every_status()
    for ref, doc in [("ndjson_summary", summary_line(report)),
                     *[("ndjson_host", {"type": "host", **host_dict(h)}) for h in report.hosts]]:
        schema = {"$ref": f"{envelope_schema['$id']}#/$defs/{ref}"}
        resource = Resource.from_contents(envelope_schema)
        registry: Registry = Registry().with_resource(envelope_schema["$id"], resource)
        jsonschema.Draft202012Validator(schema, registry=registry).validate(json.loads(json.dumps(doc)))


# -- csv ----------------------------------------------------------------------------------------


def test_csv_one_row_per_host_with_flattened_columns() -> None:
    out = io.StringIO()
    write_csv(small(), COLUMNS, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == ["name", "address", "status", "error_kind", "error_message", "rc", "tags"]
    assert [r["name"] for r in rows] == ["web1", "web2", "db1", "db2"]
    assert rows[1] == {"name": "web2", "address": "192.0.2.2", "status": "failed", "error_kind": "",
                       "error_message": "", "rc": "2", "tags": "x;y"}
    assert (rows[2]["error_kind"], rows[2]["error_message"], rows[2]["rc"], rows[2]["tags"]) == (
        "connect", "connection refused", "", "")


# -- the table ----------------------------------------------------------------------------------


def test_table_rows_columns_errors_and_summary() -> None:
    c = console()
    render_table(c, small(), COLUMNS, title="run")
    out = text_of(c)
    header = next(line for line in out.splitlines() if "Host" in line)
    assert re.findall(r"\w+", header) == ["Host", "Status", "rc", "Tags", "Error"]
    assert re.search(r"web2\s+│\s+failed\s+│\s+2\s+│\s+x, y", out)
    assert re.search(r"db1\s+│\s+unreachable\s+│\s+-\s+│\s+-\s+│\s+unreachable: connection refused", out)
    assert "db1: connect: connection refused" in out.splitlines()  # the whole error, under the table
    assert out.splitlines()[0].strip() == "run"
    assert out.splitlines()[-1] == "4 hosts: 2 ok, 1 failed, 1 unreachable in 1.23 s"


def test_table_without_errors_has_no_error_column() -> None:
    c = console()
    report = RunReport("ping", T0, 0.5, (small().hosts[0],))
    render_table(c, report, [])
    assert "Error" not in text_of(c)
    assert text_of(c).splitlines()[-1] == "1 host: 1 ok in 0.50 s"


def test_table_colours_statuses_and_respects_no_color() -> None:
    report = every_status()
    coloured = Console(file=io.StringIO(), width=120, color_system="standard", force_terminal=True)
    render_table(coloured, report, [])
    out = text_of(coloured)
    assert "\x1b[32mok" in out and "\x1b[33mwarn" in out and "\x1b[31mcrit" in out
    assert "\x1b[1;35munreachable" in out and "\x1b[1;31mauth_failed" in out
    plain = Console(file=io.StringIO(), width=120, color_system="standard", force_terminal=True,
                    no_color=True)
    render_table(plain, report, [])
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", text_of(plain))


def test_remote_text_cannot_inject_markup_or_terminal_codes() -> None:
    host = HostResult("h", "h", Status.OK, data={"x": "[red]boom[/red] \x1b]52;c;ZXZpbA==\x07"})
    c = console(width=200)
    render_table(c, RunReport("ping", T0, 0.1, (host,)), [Column("X", lambda h: h.data["x"])])
    out = text_of(c)
    assert "[red]boom[/red]" in out and "\\x1b]52;c;ZXZpbA==\\x07" in out and "\x1b" not in out


@pytest.mark.parametrize("width", [10, 20, 40, 60])
def test_narrow_terminals_do_not_crash(width: int) -> None:
    long = HostResult("a-very-long-host-name-" * 3, "x", Status.UNREACHABLE, HostError("connect", "y " * 80))
    report = RunReport("run", T0, 0.1, (*small().hosts, long))
    c = console(width=width)
    render_table(c, report, COLUMNS, title="a title wider than the terminal")
    assert max(len(line) for line in text_of(c).splitlines()) <= width
    if width >= 40:  # below that rich gives up on some columns, but still draws within the width
        assert "db1" in text_of(c) and "unreachable" in text_of(c)
    c = console(width=width)
    render_outputs(c, report)
    assert ("connect: " + "y " * 80).rstrip() in [line.rstrip() for line in text_of(c).splitlines()]


# -- run output ---------------------------------------------------------------------------------


def test_outputs_per_host_header_then_output() -> None:
    c = console()
    render_outputs(c, small())
    assert text_of(c).splitlines() == [
        "web1 | ok | rc=0 | 0.10s",
        "hello",
        "web2 | failed | rc=2 | 0.20s",
        "boom",
        "db1 | unreachable | 3.00s",
        "connect: connection refused",
        "db2 | ok | rc=0 | 0.10s",
        "a",
        "b",
        "4 hosts: 2 ok, 1 failed, 1 unreachable in 1.23 s",
    ]


def test_outputs_keep_long_lines_whole_and_dim_stderr() -> None:
    line = "x" * 300
    host = HostResult("h", "h", Status.OK, data={"stdout": line, "stderr": "warning\r\n", "exit_code": 0})
    c = console(width=40)
    render_outputs(c, RunReport("run", T0, 0.1, (host,)))
    assert line in text_of(c).splitlines()
    coloured = Console(file=io.StringIO(), width=80, color_system="standard", force_terminal=True)
    render_outputs(coloured, RunReport("run", T0, 0.1, (host,)))
    assert "\x1b[2mwarning\x1b[0m" in text_of(coloured)


# -- emit ---------------------------------------------------------------------------------------


def _emit(fmt: str, **kw: Any) -> tuple[str, str]:
    out, c = io.StringIO(), console()
    emit(small(), fmt, stdout=out, console=c, columns=COLUMNS, exit_code=6, **kw)
    return out.getvalue(), text_of(c)


def test_emit_dispatches_every_format() -> None:
    assert FORMATS == ("table", "json", "ndjson", "yaml", "csv")
    data, table = _emit("table", title="T")
    assert data == "" and "web1" in table and table.splitlines()[0].strip() == "T"
    assert json.loads(_emit("json")[0]) == json.loads(json.dumps(envelope(small(), 6)))
    assert yaml.safe_load(_emit("yaml")[0]) == json.loads(json.dumps(envelope(small(), 6)))
    assert _emit("csv")[0].splitlines()[0] == "name,address,status,error_kind,error_message,rc,tags"


def test_emit_ndjson_writes_only_the_summary_line() -> None:
    data, table = _emit("ndjson")
    assert table == "" and len(data.splitlines()) == 1
    line = json.loads(data)
    assert line["type"] == "summary" and line["summary"]["exit_code"] == 6 and line["summary"]["hosts"] == 4


def test_emit_uses_a_custom_table_renderer_and_rejects_unknown_formats() -> None:
    _, table = _emit("table", table=render_outputs)
    assert table.splitlines()[0] == "web1 | ok | rc=0 | 0.10s"
    with pytest.raises(UsageError, match="unknown output format 'xml'.*table, json, ndjson, yaml, csv"):
        _emit("xml")
