"""One of each value format rmmctl prints or stores: UTC timestamps and JSON-safe copies of data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Mapping
from typing import Any


def iso_utc(epoch: float) -> str:
    """Unix time -> ISO 8601 UTC with milliseconds and a Z (2024-05-01T12:00:00.123Z), as everywhere in
    rmmctl's JSON, YAML and CSV."""
    stamp = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_PLAIN = frozenset({str, int, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """A plain JSON/YAML copy: dataclasses and mappings -> dicts with str keys, sequences -> lists, enums ->
    their values, non-finite floats -> None; objects with a `to_jsonable()` method use it; anything else
    unknown -> str."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:  # the common case: plain values are copied without a call each
        return {k if type(k) is str else str(k): v if type(v) in _PLAIN else to_jsonable(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else to_jsonable(v) for v in value]
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    method = getattr(value, "to_jsonable", None)
    if callable(method) and not isinstance(value, type):
        return method()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return str(value)
