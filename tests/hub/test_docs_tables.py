"""Generated docs stay equal to the tables they come from."""

from __future__ import annotations

from pathlib import Path

from hub import config
from schema import close_codes

ROOT = Path(__file__).resolve().parents[2]


def test_close_code_doc_matches_the_table() -> None:
    doc = (ROOT / "schema" / "CLOSE_CODES.md").read_text(encoding="utf-8")
    assert close_codes.markdown_table() in doc, "regenerate: python -m schema.close_codes > schema/CLOSE_CODES.md"


def test_config_doc_matches_the_settings() -> None:
    doc = (ROOT / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    assert config.markdown_table() in doc, "regenerate: python -m hub.config > docs/CONFIG.md"
