"""The shipped playbooks (package data: src/rmmctl/data/playbooks/NAME.yaml): find one by name, list them.

`rmmctl play disk-cleanup` runs the shipped disk-cleanup.yaml; a path that exists always wins, and only a
bare name (no `/`, no `.yaml`/`.yml`) is looked up here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "playbooks"
_SUFFIXES = (".yaml", ".yml")


def shipped_names() -> list[str]:
    """The names of the shipped playbooks, sorted (disk-cleanup, motd, ...)."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml") if p.is_file())


def is_bare_name(text: str) -> bool:
    """True for `disk-cleanup`; False for a path (`./x`, `a/b`) or a file name (`x.yaml`)."""
    return "/" not in text and not text.endswith(_SUFFIXES) and text not in ("", ".", "..")


def shipped_path(text: str) -> Path | None:
    """The shipped playbook a bare name names (whether or not a file here shadows it), else None."""
    path = SHIPPED_DIR / f"{text}.yaml"
    return path if is_bare_name(text) and path.is_file() else None


def resolve_playbook(text: str) -> Path:
    """The playbook file PLAYBOOK names: an existing path as given, else a bare name in the shipped dir;
    an unknown bare name is a one-line ConfigError listing the shipped names (and the closest ones)."""
    given = Path(text).expanduser()
    if given.exists() or not is_bare_name(text):
        return given
    shipped = shipped_path(text)
    if shipped is not None:
        return shipped
    names = shipped_names()
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ConfigError(f"no playbook {text!r}: not a file here and not a shipped playbook{hint}; shipped: "
                      f"{', '.join(names) or 'none'} (`rmmctl play --list`), or give a path")


@dataclass(frozen=True, slots=True)
class ShippedPlaybook:
    """One shipped playbook for `play --list`: name, path, its header's description, its play's vars."""

    name: str
    path: Path
    description: str
    play: str | None = None
    hosts: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the file does not load (a one-line ConfigError)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "description": self.description, "play": self.play,
                "hosts": self.hosts, "vars": self.vars, "error": self.error}


def description_of(path: Path) -> str:
    """Line 1 of the header comment, `# NAME.yaml: one-line description.`, without its prefix."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = fh.readline().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    text = first.lstrip("#").strip()
    for prefix in (f"{path.name}:", f"{path.stem}:"):
        if text.startswith(prefix):
            return text[len(prefix):].strip()
    return text if first.startswith("#") else ""


def shipped_playbooks() -> list[ShippedPlaybook]:
    """Every shipped playbook with its description and vars (defaults as written), by name."""
    from rmmctl.playbooks.load import load_playbook

    out = []
    for name in shipped_names():
        path = SHIPPED_DIR / f"{name}.yaml"
        try:
            (play, *_) = load_playbook(path).plays
        except ConfigError as exc:
            out.append(ShippedPlaybook(name, path, description_of(path), error=str(exc)))
            continue
        values = {**play.defaults, **play.vars}  # `defaults:` (the inventory may set them) and `vars:`
        out.append(ShippedPlaybook(name, path, description_of(path), play.name, play.hosts, values))
    return out
