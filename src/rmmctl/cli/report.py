"""`rmmctl report`: a client report from the history (HTML, Markdown, JSON, or PDF through Chromium)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from rmmctl.cli.complete import complete_pattern
from rmmctl.cli.options import Common, common_without
from rmmctl.cli.output import setup_logging, writing_stdout
from rmmctl.config import load_config
from rmmctl.errors import ConfigError, UsageError
from rmmctl.inventory.load import load_inventory
from rmmctl.inventory.model import Inventory
from rmmctl.inventory.select import select_hosts
from rmmctl.report import Branding, ClientInfo, branding_from, build_report, parse_period
from rmmctl.secrets import Redactor
from rmmctl.store import open_store


class ReportFormat(str, Enum):
    html = "html"
    md = "md"
    json = "json"
    pdf = "pdf"


SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".json": "json", ".pdf": "pdf"}


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@common_without("output", "json")
def report(
    pattern: Annotated[str | None, typer.Argument(
        help="Hosts of the inventory (a client, group, host or pattern). Default: every host in the history.",
        autocompletion=complete_pattern)] = None,
    *,
    client: Annotated[str | None, typer.Option("--client", help="Only this client's hosts (client=NAME); its "
                                                                "name and contact go on the cover.")] = None,
    period: Annotated[str, typer.Option("--period", help="30d, 7d, 2w (ending now) or a month: 2024-05 (UTC).")
                      ] = "30d",
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--output", "-o", help="html, md, json or pdf. Default: from --out's suffix, else html.")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write here (default: stdout; "
                                             "pdf needs a file).")] = None,
    msp_name: Annotated[str | None, typer.Option("--msp-name", help="Your company's name on the cover.")] = None,
    logo: Annotated[Path | None, typer.Option("--logo", metavar="PATH",
                                              help="Logo image on the cover (png, jpeg, svg...; inlined, <= 256 KiB).")
                    ] = None,
    chromium: Annotated[str | None, typer.Option("--chromium", metavar="PATH", help="Chromium for -o pdf "
                                                 "(default: chromium, chromium-browser or google-chrome on PATH).")
                        ] = None,
    opts: Common,
) -> None:
    """A client report from the history: health scores, findings and fixes, maintenance, trends, updates,
    backups and outages over a period. Contacts no host."""
    setup_logging(opts, Redactor())
    kind = _format(fmt, out, opts)
    now = time.time()
    span = parse_period(period, now)
    config = load_config(opts.config)  # the `report` section: branding and client contacts (docs/config.md)
    branding = branding_from(msp_name or config.report.msp_name,
                             logo or (Path(config.report.logo) if config.report.logo else None))
    hosts, info = _hosts(opts, pattern, client)
    if info is not None and info.name and not info.contact and info.name in config.report.contacts:
        info = replace(info, contact=config.report.contacts[info.name])
    if kind == "pdf":
        from rmmctl.pdf import find_chromium

        browser = find_chromium(chromium)  # before any work: exit 3 with how to get one
        if out is None:
            raise UsageError("-o pdf writes a file: give --out FILE.pdf")
    with open_store(opts.db) as store:
        doc = build_report(store, hosts, span, now=now, client=info, branding=branding,
                           pattern=pattern or (f"client={client}" if client else None))
    _write(doc, kind, out, branding, browser if kind == "pdf" else None)


def _format(fmt: ReportFormat | None, out: Path | None, opts: Common) -> str:
    if fmt is not None:
        return fmt.value
    if out is not None and out.suffix.lower() in SUFFIXES:
        return SUFFIXES[out.suffix.lower()]
    return "json" if opts.fmt == "json" else "html"  # `rmmctl --json report`


def _hosts(opts: Common, pattern: str | None, client: str | None) -> tuple[list[str] | None, ClientInfo | None]:
    """The inventory hosts the report covers (None: every host in the history) and the client on the cover."""
    if pattern is None and client is None and opts.limit is None:
        return None, None
    inventory = load_inventory(opts.inventory)
    if client is not None and not _is_client(inventory, client):
        clients = sorted(g.name for g in inventory.groups.values() if g.kind == "client")
        raise ConfigError(f"--client {client!r}: no such client in the inventory; clients: "
                          f"{', '.join(clients) or 'none'}")
    terms = [t for t in (pattern, f"client={client}" if client else None, opts.limit) if t]
    chosen = select_hosts(inventory, terms[0])
    for term in terms[1:]:
        keep = {h.name for h in select_hosts(inventory, term)}
        chosen = [h for h in chosen if h.name in keep]
    names = [h.name for h in chosen]
    owner = client or _single_client(chosen)
    if owner is None:
        return names, ClientInfo(None)
    group = inventory.groups.get(owner)
    values = dict(group.vars) if group is not None else {}
    contact = values.get("contact")
    return names, ClientInfo(owner, str(contact) if contact else None, values)


def _is_client(inventory: Inventory, name: str) -> bool:
    group = inventory.groups.get(name)
    return group is not None and group.kind == "client"


def _single_client(hosts: list) -> str | None:
    owners = {h.client for h in hosts}
    return owners.pop() if len(owners) == 1 and None not in owners else None


def _write(doc: dict, kind: str, out: Path | None, branding: Branding, browser: str | None) -> None:
    from rmmctl.render import report as render

    if out is not None:  # a cron job's monthly folder may not exist yet: make it, or say why not
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create {out.parent}: {exc.strerror or exc}") from None
    if kind == "pdf":
        from rmmctl.pdf import render as to_pdf

        assert out is not None and browser is not None
        with tempfile.TemporaryDirectory(prefix="rmmctl-report-") as tmp:
            page = Path(tmp) / "report.html"
            page.write_text(render.html(doc, branding), encoding="utf-8")
            to_pdf(page, pdf=out, chromium=browser)
        return
    if kind == "html":
        text = render.html(doc, branding)
    elif kind == "md":
        text = render.markdown(doc)
    else:
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        with writing_stdout():
            sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: {exc.strerror or exc}; give a writable file path") from None
