"""Plain text of a Yjs document state, and line diffs between two texts.

An editor binds one root of the document: Tiptap/ProseMirror (y-prosemirror)
a ``Y.XmlFragment`` named "default"; plain-text editors and the test clients
a ``Y.Text``. A state decoded from an update does not say which type each
root is, so every root is read as an XmlFragment first: one holding element
or text nodes is rendered as lines (one per block: paragraph, heading, list
item...; ``hardBreak`` is a line break inside its block). A root that shows
no nodes that way is read as a ``Y.Text`` in a second document. Maps and
arrays read as neither and give nothing.

The text of a document is its roots' texts, "default" first and then the
others by name, separated by a blank line; empty roots are left out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

__all__ = ["document_text", "line_diff"]

DEFAULT_ROOT = "default"
LINE_BREAK_TAGS = frozenset({"hardBreak", "hard_break", "br"})


def document_text(state: bytes) -> str:
    """The plain text of the document ``state`` (a Yjs update holding it whole)."""
    as_xml: Doc[Any] = Doc()
    as_xml.apply_update(state)
    names = sorted(as_xml.keys(), key=lambda name: (name != DEFAULT_ROOT, name))
    texts: dict[str, str] = {}
    plain: list[str] = []
    for name in names:
        nodes = list(as_xml.get(name, type=XmlFragment).children)
        if nodes:
            texts[name] = "\n".join(_lines(nodes))
        else:
            plain.append(name)
    if plain:
        as_text: Doc[Any] = Doc()
        as_text.apply_update(state)
        for name in plain:
            texts[name] = str(as_text.get(name, type=Text))
    return "\n\n".join(texts[name] for name in names if texts.get(name))


def _lines(nodes: Iterable[XmlElement | XmlFragment | XmlText]) -> list[str]:
    """One line per block; inline text and line breaks join within their block."""
    lines: list[str] = []
    inline: list[str] = []
    for child in nodes:
        if isinstance(child, XmlText):
            inline.append(_inline_text(child))
        elif isinstance(child, XmlElement) and child.tag in LINE_BREAK_TAGS:
            inline.append("\n")
        else:
            if inline:
                lines.append("".join(inline))
                inline = []
            lines.extend(_lines(child.children) or [""])
    if inline:
        lines.append("".join(inline))
    return lines


def _inline_text(node: XmlText) -> str:
    """The characters of an XmlText, without formatting marks or embeds."""
    return "".join(chunk for chunk, _ in node.diff() if isinstance(chunk, str))


def line_diff(old: str, new: str, *, old_name: str, new_name: str, context: int = 3) -> dict[str, Any]:
    """A line diff as JSON: the unified text and the changed hunks, structured.

    Each change is ``{"op": "replace"|"delete"|"insert", "old": [start, end],
    "new": [start, end], "removed": [...lines], "added": [...lines]}`` with
    zero-based, end-exclusive line ranges.
    """
    a, b = old.splitlines(), new.splitlines()
    unified = "\n".join(difflib.unified_diff(a, b, old_name, new_name, n=context, lineterm=""))
    changes = [
        {"op": op, "old": [i1, i2], "new": [j1, j2], "removed": a[i1:i2], "added": b[j1:j2]}
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if op != "equal"
    ]
    return {
        "unified": unified,
        "changes": changes,
        "added": sum(len(c["added"]) for c in changes),
        "removed": sum(len(c["removed"]) for c in changes),
    }
