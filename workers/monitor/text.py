"""Text normalisation for matching Chinese (and mixed) headlines.

Chinese text has no spaces between words, so keywords are matched as
substrings of the normalised text, never as words. ``normalise`` makes the
variants one writer or another would use compare equal:

1. NFKC: full-width Latin letters, digits and punctuation become their
   half-width forms (``ＡＢＣ１２３`` → ``ABC123``, ``，`` → ``,``), and
   compatibility characters fold to their ordinary form.
2. Traditional → simplified, character by character (OpenCC's
   ``TSCharacters`` table: ``虎門大橋`` → ``虎门大桥``). Per character, not per
   phrase, so that "keyword is a substring of text" survives the mapping.
3. Case folding (``COVID`` = ``covid``).
4. Everything but letters and digits is dropped (spaces, punctuation,
   symbols, control characters): ``虎门 大桥``, ``虎门·大桥`` and ``虎门大桥``
   are one string.

Keywords and text go through the same function, so a keyword written in any
of these forms finds text written in any other.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

__all__ = ["normalise", "simplified"]

_KEEP = frozenset("LN")  # Unicode major categories kept: letters, numbers


@functools.cache
def _t2s() -> dict[int, str]:
    text = resources.files("opencc").joinpath("dictionary/TSCharacters.txt").read_text(encoding="utf-8")
    table: dict[int, str] = {}
    for line in text.splitlines():
        traditional, _, candidates = line.partition("\t")
        if len(traditional) == 1 and candidates:
            table[ord(traditional)] = candidates.split()[0]  # the first candidate is the usual one
    return table


def simplified(text: str) -> str:
    """``text`` with traditional characters replaced by simplified ones."""
    return text.translate(_t2s())


@functools.lru_cache(maxsize=4096)
def _keep(char: str) -> bool:
    return unicodedata.category(char)[0] in _KEEP


def normalise(text: str) -> str:
    """The form keywords and text are compared in (see the module docstring)."""
    folded = simplified(unicodedata.normalize("NFKC", text)).casefold()
    return "".join(c for c in folded if _keep(c))
