"""The second half of the docs' command lines (docs/i*.md to docs/z*.md: inventory, json, playbooks, report,
shell, watch ...) against their own copy of the docs environment (a fleet, the Windows doubles, a history
database), so the two halves of tests/integration/test_docs.py run on both workers. The entries, the
extraction and the judging are test_docs.py's."""

from __future__ import annotations

import pytest
from test_docs import DocsEnv, all_doc_lines, check_line, docs_env, in_first_half  # noqa: F401 - the fixture

SECOND_HALF = [(f"{f}:{n}", t) for f, n, t in all_doc_lines() if not in_first_half(f)]


def test_the_halves_cover_every_line() -> None:
    first = [f for f, _, _ in all_doc_lines() if in_first_half(f)]
    assert first and SECOND_HALF and len(first) + len(SECOND_HALF) == len(all_doc_lines())


@pytest.mark.parametrize(("where", "line"), SECOND_HALF)
def test_doc_line_runs_second_half(where: str, line: str, docs_env: DocsEnv) -> None:  # noqa: F811
    check_line(where, line, docs_env)
