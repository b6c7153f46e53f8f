"""Output of a finished run in the format the user chose (`-o table|json|ndjson|yaml|csv`).

`data` builds the documents (no rich); `table` draws for humans (rich, imported only for `table`).
For `ndjson`, `emit` writes only the closing summary line: the host lines were already streamed with
`data.write_ndjson_host` as each host finished.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence, TextIO

from rmmctl.errors import UsageError
from rmmctl.models import RunReport
from rmmctl.render.data import Column, envelope, write_csv, write_json, write_ndjson_summary, write_yaml

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["FORMATS", "Column", "emit"]

FORMATS = ("table", "json", "ndjson", "yaml", "csv")

TableRenderer = Callable[["Console", RunReport], None]


def emit(
    report: RunReport,
    fmt: str,
    *,
    stdout: TextIO,
    console: Console,
    columns: Sequence[Column],
    exit_code: int,
    table: TableRenderer | None = None,
    title: str | None = None,
) -> None:
    """Write the report to stdout (data formats) or the console (table; `table` replaces the default)."""
    if fmt == "table":
        if table is not None:
            table(console, report)
        else:
            from rmmctl.render.table import render_table

            render_table(console, report, columns, title=title)
    elif fmt == "json":
        write_json(envelope(report, exit_code), stdout)
    elif fmt == "ndjson":
        write_ndjson_summary(report, exit_code, stdout)
    elif fmt == "yaml":
        write_yaml(envelope(report, exit_code), stdout)
    elif fmt == "csv":
        write_csv(report, columns, stdout)
    else:
        raise UsageError(f"unknown output format {fmt!r}; use -o with one of: {', '.join(FORMATS)}")
