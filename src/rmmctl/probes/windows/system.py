"""Parsers of the Windows system sections: host, os (more: uptime, cpu, memory, filesystems, processes,
services, time). Each takes the section's JSON as PowerShell 5.1 printed it (see shapes)."""

from __future__ import annotations

from typing import Any

from rmmctl.facts import HostFacts, OsFacts
from rmmctl.probes.windows.prober import ParseContext, parser
from rmmctl.probes.windows.shapes import as_dict, text

_ARCH = {"AMD64": "x86_64", "X86": "i686", "ARM64": "aarch64", "ARM": "arm", "IA64": "ia64"}


@parser("host")
def parse_host(data: Any, _: ParseContext) -> HostFacts:
    d = as_dict(data, "host")
    name = text(d.get("hostname")) or text(d.get("dns_hostname")) or ""
    domain = text(d.get("domain")) if d.get("part_of_domain") else None
    short = (text(d.get("dns_hostname")) or name).lower()
    arch = text(d.get("arch")) or ""
    return {
        "hostname": short,
        "fqdn": f"{short}.{domain.lower()}" if domain else None,
        "kernel": text(d.get("version")) or "",
        "arch": _ARCH.get(arch.upper(), arch.lower()),
        "machine_id": text(d.get("machine_guid")),
    }


@parser("os")
def parse_os(data: Any, _: ParseContext) -> OsFacts:
    d = as_dict(data, "os")
    caption = text(d.get("caption")) or "Windows"
    name = caption.removeprefix("Microsoft ").strip()
    display = text(d.get("display_version")) or text(d.get("release_id"))
    return {
        "family": "windows",
        "id": "windows-server" if (d.get("product_type") or 1) in (2, 3) else "windows",
        "name": name,
        "version_id": text(d.get("version")),
        "version_codename": display,
        "pretty_name": f"{name} {display}" if display else name,
        "id_like": [],
    }
