"""``docs/WORKFLOW.md`` shows the state machines and the roles policy as the code has them."""

from __future__ import annotations

from pathlib import Path

import rooms.workflow
from rooms.workflow import markdown_tables

DOC = (Path(__file__).resolve().parents[2] / "docs" / "WORKFLOW.md").read_text(encoding="utf-8")


def test_the_state_tables_match_the_machines() -> None:
    assert markdown_tables() in DOC, "regenerate the tables: python -m rooms.workflow"


def test_the_policy_table_matches_the_rules_module() -> None:
    docstring = rooms.workflow.__doc__ or ""
    rows = [line for line in docstring[docstring.index("| what | who |") :].splitlines() if line.startswith("|")]
    assert len(rows) > 10
    for row in rows:
        assert row.replace("``", "`") in DOC, f"docs/WORKFLOW.md lacks: {row}"
