"""docs/schemas as one registry: validate a document (or a part of one) against a schema file or its $defs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
BASE = "https://rmmctl.dev/schemas/v1/"


def _registry() -> Registry:
    schemas = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))]
    for schema in schemas:
        jsonschema.Draft202012Validator.check_schema(schema)
    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)


REGISTRY = _registry()


def validator(ref: str) -> jsonschema.Draft202012Validator:
    """A validator for a schema file or one of its $defs, e.g. `logs.schema.json#/$defs/ndjson_entry`."""
    return jsonschema.Draft202012Validator({"$ref": BASE + ref}, registry=REGISTRY)


def problems(ref: str, doc: Any) -> list[str]:
    """Every validation error's path and message ([] when the document is valid)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator(ref).iter_errors(doc)]
