"""Parsers of Windows probe sections (events)."""

from __future__ import annotations
