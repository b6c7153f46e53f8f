"""Parsers of Windows probe sections (security)."""

from __future__ import annotations
