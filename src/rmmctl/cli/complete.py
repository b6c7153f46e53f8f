"""Shell completion of values: host, group, client and site names from the inventory, check ids, playbooks.

The inventory is the one the command line names so far (`-i` before or after the subcommand), else
`RMMCTL_INVENTORY`, else the embedded default. Completion never fails loudly: an inventory that does
not load completes nothing. Install with `rmmctl --install-completion` (bash, zsh, fish, PowerShell).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer

Candidates = list[tuple[str, str]]  # (value, help shown by zsh/fish)
_SEPARATORS = ":,&!"  # pattern grammar: a:b, a,b, a:&b, a:!b; the last term is the one completed


def _inventory_path(ctx: typer.Context | None) -> Path | None:
    while ctx is not None:
        value = (ctx.params or {}).get("inventory")
        if value:
            return Path(value)
        ctx = ctx.parent
    env = os.environ.get("RMMCTL_INVENTORY")
    return Path(env) if env else None


def _inventory(ctx: typer.Context | None) -> Any:
    from rmmctl.inventory.load import load_inventory

    try:
        return load_inventory(_inventory_path(ctx))
    except Exception:  # noqa: BLE001 - a broken inventory completes nothing; the command itself will say why
        return None


def _selector_values(inv: Any, key: str) -> Iterable[str]:
    for h in inv.hosts.values():
        if key == "tag":
            yield from h.tags
        elif key == "group":
            yield from h.groups
        elif key == "site" and h.site:
            yield h.site
        elif key in ("os", "client", "connection") and getattr(h, key):
            yield getattr(h, key)


def pattern_candidates(inv: Any, incomplete: str) -> Candidates:
    """Completions of the last term of a pattern: hosts, groups, clients, sites, `key=value` selectors."""
    from rmmctl.inventory.select import SELECTORS

    cut = max(incomplete.rfind(c) for c in _SEPARATORS) + 1
    head, term = incomplete[:cut], incomplete[cut:]
    if "=" in term:
        key = term.split("=", 1)[0]
        if key not in SELECTORS:
            return []
        values = dict.fromkeys(_selector_values(inv, key))
        return [(f"{head}{key}={v}", key) for v in values]
    out: Candidates = [(head + name, "host") for name in inv.hosts]
    out += [(head + name, g.kind) for name, g in inv.groups.items() if name not in inv.hosts]
    if "all" not in inv.groups:
        out.append((head + "all", "every host"))
    out += [(f"{head}{key}=", "selector") for key in SELECTORS]
    return out


def complete_pattern(ctx: typer.Context, incomplete: str) -> Candidates:
    """typer autocompletion for a PATTERN argument or `-l/--limit`."""
    inv = _inventory(ctx)
    return pattern_candidates(inv, incomplete) if inv is not None else []


def complete_host(ctx: typer.Context, incomplete: str) -> Candidates:
    """typer autocompletion for one inventory host name."""
    inv = _inventory(ctx)
    return [(name, h.address) for name, h in inv.hosts.items()] if inv is not None else []


def complete_check(incomplete: str) -> Candidates:
    """typer autocompletion for `diagnose --check`: check ids and their groups."""
    try:
        from rmmctl.diagnose import plan

        checks = plan(()).checks
    except Exception:  # noqa: BLE001 - a broken check plugin completes nothing
        return []
    groups = dict.fromkeys(c.id.split(".")[0] for c in checks)
    return [(g, "group") for g in groups if g not in {c.id for c in checks}] + [(c.id, c.title) for c in checks]


def complete_playbook(incomplete: str) -> Candidates:
    """`rmmctl play PLAYBOOK`: the YAML files under ./playbooks, then the shipped playbooks' names."""
    from rmmctl.playbooks.shipped import shipped_names

    folder = Path("playbooks")
    files = [(str(p), "playbook") for p in sorted(folder.iterdir()) if p.suffix in (".yml", ".yaml")] \
        if folder.is_dir() else []
    return files + [(name, "shipped playbook") for name in shipped_names()]


COMPLETERS: dict[str, Callable[..., Candidates]] = {
    "pattern": complete_pattern,
    "host": complete_host,
    "check": complete_check,
    "playbook": complete_playbook,
}
