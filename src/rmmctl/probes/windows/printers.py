"""Parsers of Windows probe sections (printers)."""

from __future__ import annotations
