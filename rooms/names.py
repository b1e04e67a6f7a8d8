"""Room and draft names.

A name is 1 to 64 characters of ASCII letters, digits, ``_`` and ``-``, and
starts with a letter or digit. Nothing else is allowed: no dots (so no
``..``), no slashes, no percent-escapes and no non-ASCII look-alikes, so a
name can never reach into another room's path or storage key.
"""

from __future__ import annotations

import re

__all__ = ["NAME_PATTERN", "InvalidName", "check_name", "valid_name"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class InvalidName(ValueError):
    pass


def valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def check_name(kind: str, name: str) -> str:
    if not valid_name(name):
        raise InvalidName(f"{kind} name must be 1-64 of A-Z a-z 0-9 _ - and start with a letter or digit")
    return name
