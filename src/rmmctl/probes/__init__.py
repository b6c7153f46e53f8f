"""Probes: one script per OS family sent in a single exec, and pure parsers from its output to facts.

`bundle` assembles the Linux script (`linux.sh`, package data) and splits its framed output;
`linux` holds one pure parser per section. To add a section: write an `s_NAME` block in linux.sh
(`#@ section NAME`), a parser `parse_NAME(body) -> dict` in linux.py registered in PARSERS, its
TypedDict in rmmctl.facts, fixtures under tests/fixtures/probes/NAME/, and its keys in docs/facts.md.
"""

from __future__ import annotations


class ParseError(ValueError):
    """A probe section's output could not be turned into facts; str() is one line for the user."""
