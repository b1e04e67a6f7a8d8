"""Telling whether two feed items are one story.

Three keys, from strictest to loosest:

- ``url_key``: a hash of the canonical URL. Canonical means: scheme dropped
  (``http`` and ``https`` are one page), host lower-cased without ``www.``
  and default port, fragment dropped, tracking parameters dropped
  (``utm_*``, ``spm``, ``from``, ``fbclid``, WeChat's ``scene``/``chksm``…),
  the remaining parameters sorted. The same article shared with different
  tracking parameters has one key.
- ``text_key``: a hash of the normalised title (``workers.monitor.text``)
  and the calendar day (China time). The summary is added when the title
  is under six characters, so short generic titles such as ``快讯`` do not
  collide. The same headline republished at another URL, in traditional
  characters or with other punctuation, has one key that day; a recurring
  title (``今日天气``) may alert again the next day.
- ``simhash``: a 64-bit SimHash over the character bigrams of the
  normalised title and summary (their first 300 characters). Bigrams,
  because Chinese has no spaces to split words on, and a bigram keeps local
  order. The store treats a distance of at most ``Near.distance`` (3) to an
  alert of the last three days as the same story. Measured on headlines
  with a 60–90 character summary (``tests/monitor/test_dedup.py``): the same
  story with a character added or punctuation changed in the title differs
  by 1–4 bits; the same text about another place (长安 instead of 虎门) by
  10–14; unrelated stories by about 32. The threshold is deliberately low:
  two alerts about one story cost a click, a story lost as a "duplicate"
  of another town's costs far more. On a bare title (no summary) SimHash is
  too coarse to say more than the ``text_key`` does: among 200 templated
  bulletins (``虎门暴雨内涝通报 第12号``, ``第13号``…) two were 3 bits apart.
  So texts under 60 characters get no SimHash and are compared by their
  keys only.

The first two are unique columns of the alerts table, so they hold even
between workers racing; the SimHash comparison runs inside the serialised
insert (``rooms.monitor``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from urllib.parse import parse_qsl, urlencode, urlsplit

from workers.monitor.text import normalise

__all__ = ["canonical_url", "simhash", "text_key", "url_key"]

TRACKING = frozenset(
    {
        "spm", "from", "fbclid", "gclid", "dclid", "yclid", "msclkid", "igshid", "mc_cid", "mc_eid",
        "share_source", "share_medium", "share_from", "share_token", "sharer_sharetime", "sharer_shareid",
        "scene", "srcid", "chksm", "clicktime", "enterid", "isappinstalled", "wfr", "ref_src", "_hsenc", "_hsmi",
    }
)  # fmt: skip
DEFAULT_PORTS = {"http": 80, "https": 443}
SHORT_TITLE = 6
SIMHASH_CHARS = 300
SIMHASH_MIN = 60
CHINA_OFFSET = 8 * 3600  # UTC+8, no daylight saving
_MASK = (1 << 64) - 1


def canonical_url(url: str) -> str:
    """The canonical form of ``url`` (see the module docstring)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{parts.port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING
    )
    tail = f"?{urlencode(query)}" if query else ""
    return f"//{host}{parts.path or '/'}{tail}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def url_key(url: str) -> str:
    return _digest(canonical_url(url))


def text_key(title: str, summary: str, now: float) -> str:
    """The normalised title (with the summary when the title is short), on the China calendar day of ``now``."""
    text = normalise(title)
    if len(text) < SHORT_TITLE:
        text = normalise(f"{title} {summary}")[:200]
    day = int((now + CHINA_OFFSET) // 86400)
    return _digest(f"{day}:{text}")


def simhash(title: str, summary: str) -> int | None:
    """64-bit SimHash of the bigrams of the normalised title and summary, as a signed integer.

    None when that text is shorter than ``SIMHASH_MIN`` characters: too short to compare.
    """
    text = normalise(f"{title} {summary}")[:SIMHASH_CHARS]
    if len(text) < SIMHASH_MIN:
        return None
    grams = Counter(text[i : i + 2] for i in range(max(1, len(text) - 1)))
    weights = [0] * 64
    for gram, count in grams.items():
        h = int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += count if h >> bit & 1 else -count
    value = sum(1 << bit for bit in range(64) if weights[bit] > 0)
    return value - (1 << 64) if value >> 63 else value  # stored as a signed BIGINT
