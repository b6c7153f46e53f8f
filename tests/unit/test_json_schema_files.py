"""docs/schemas stay valid, in step with the code (scripts/gen_schemas.py) and documented in docs/json.md."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from rmmctl.facts import json_schema
from rmmctl.health import METRICS_SECTIONS

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
JSON_MD = (ROOT / "docs" / "json.md").read_text()


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "scripts" / "gen_schemas.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _gen()


def schema(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return doc


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.schema.json")), ids=lambda p: p.name)
def test_every_schema_is_valid_draft_2020_12_with_its_own_id(path: Path) -> None:
    doc = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$id"] == f"https://rmmctl.dev/schemas/v1/{path.name}"


@pytest.mark.parametrize("name", sorted(GEN.GENERATED))
def test_generated_parts_are_in_step_with_the_code(name: str) -> None:
    current = schema(name)
    assert GEN.regenerate(name, current) == current, f"run `python scripts/gen_schemas.py` to update {name}"


def test_the_in_step_check_notices_a_stale_file() -> None:
    stale = schema("metrics.schema.json")
    del stale["$defs"]["facts"]["properties"]["memory"]
    assert GEN.regenerate("metrics.schema.json", stale) != stale
    assert GEN.main(["--check"]) == 0  # and the committed files are not stale


def test_metrics_facts_are_facts_json_schema() -> None:
    """Independent of the generator: data.facts has exactly json_schema()'s sections, keys and types."""
    facts = schema("metrics.schema.json")["$defs"]["facts"]
    expected = json_schema(METRICS_SECTIONS)
    assert {k: v for k, v in facts["properties"].items() if k != "errors"} == {
        k: v for k, v in expected["properties"].items() if k != "errors"}
    assert (facts["required"], facts["additionalProperties"]) == (expected["required"], False)


def test_logs_entry_is_the_facts_log_entry() -> None:
    defs = schema("logs.schema.json")["$defs"]
    logs = json_schema(["logs"])["properties"]["logs"]["oneOf"][0]
    assert defs["entry_facts"]["properties"] == logs["properties"]["entries"]["items"]["properties"]
    assert set(defs["logs_facts"]["properties"]) == set(logs["properties"]) - {"entries"}


def _keys(doc: dict[str, Any], *path: str) -> set[str]:
    node: Any = doc
    for step in path:
        node = node[step]
    return set(node["properties"])


DOCUMENTED = {
    "status data": ("status.schema.json", ("$defs", "data")),
    "status summary": ("status.schema.json", ("$defs", "summary")),
    "finding": ("finding.schema.json", ()),
    "metrics data": ("metrics.schema.json", ("$defs", "data")),
    "logs data": ("logs.schema.json", ("$defs", "data")),
    "logs source": ("logs.schema.json", ("$defs", "logs_facts")),
    "log entry": ("logs.schema.json", ("$defs", "entry_facts")),
    "follow line": ("logs.schema.json", ("$defs", "ndjson_entry")),
    "play data": ("play.schema.json", ("$defs", "data")),
    "play task": ("play.schema.json", ("$defs", "task")),
    "play task event": ("play.schema.json", ("$defs", "ndjson_task")),
    "play recap": ("play.schema.json", ("$defs", "recap")),
    "play window": ("play.schema.json", ("$defs", "window")),
}


@pytest.mark.parametrize("what", DOCUMENTED)
def test_docs_json_md_names_every_key(what: str) -> None:
    name, path = DOCUMENTED[what]
    keys = _keys(schema(name), *path)
    missing = sorted(k for k in keys if not re.search(rf"`{re.escape(k)}`", JSON_MD))
    assert keys and missing == [], f"docs/json.md does not document {what} keys {missing}"



def _data_examples() -> list[tuple[str, Any]]:
    """(command, data) for every ```json block of docs/json.md that shows a `"data": {...}` example."""
    examples = []
    for match in re.finditer(r"^```json\n(\"data\": .*?)^```", JSON_MD, re.DOTALL | re.MULTILINE):
        command = re.findall(r"^### `(\w+)`", JSON_MD[: match.start()], re.MULTILINE)[-1]
        examples.append((command, json.loads("{" + match.group(1) + "}")["data"]))
    return examples


@pytest.mark.parametrize("command, data", _data_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_docs_examples_match_the_schemas(command: str, data: Any) -> None:
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in map(json.loads, map(Path.read_text, SCHEMAS.glob("*.json"))))
    ref = {"$ref": f"https://rmmctl.dev/schemas/v1/{command}.schema.json#/$defs/data"}
    jsonschema.Draft202012Validator(ref, registry=registry).validate(data)


def test_docs_show_a_data_example_for_status_and_logs() -> None:
    assert {command for command, _ in _data_examples()} == {"status", "logs"}
