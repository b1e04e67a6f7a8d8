"""Parsing feeds: RSS 2.0, RSS 1.0 (RDF), Atom and JSON Feed, into items.

RSS 1.0 is RDF: its items are siblings of the channel under ``rdf:RDF``,
in the RSS 1.0 namespace, dated by Dublin Core ``dc:date`` (ISO 8601); many
Chinese portals and older CMSs still publish it.

XML is parsed with ``defusedxml``: entity declarations (the "billion
laughs" expansion) and external references (DTDs, external entities) are
refused, never resolved, so a feed can neither blow up memory nor make the
parser fetch anything. A DTD without entities is allowed (old RSS feeds
carry one). Whatever is wrong with a body raises ``FeedError`` with a short
reason, which becomes the source's ``last_error``.

Links are resolved against the feed's URL; only http(s) links are kept.
HTML in titles and summaries is reduced to text. At most ``MAX_ITEMS``
items are read from one body.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import defusedxml
import defusedxml.ElementTree as SafeET
import orjson

__all__ = ["FeedError", "Item", "parse_feed"]

MAX_ITEMS = 500
MAX_TITLE = 300
MAX_SUMMARY = 1000

ATOM = "{http://www.w3.org/2005/Atom}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS1 = "{http://purl.org/rss/1.0/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


class FeedError(ValueError):
    """The body is not a feed we can read (the message says why)."""


@dataclass(frozen=True, slots=True)
class Item:
    title: str
    summary: str
    url: str
    published_at: float | None


def parse_feed(body: bytes, base_url: str, content_type: str = "") -> list[Item]:
    """The items of a feed body (``FeedError`` if it is none of the formats)."""
    if "json" in content_type.lower() or body.lstrip()[:1] == b"{":
        return _json_feed(body, base_url)
    return _xml_feed(body, base_url)


def _text(raw: str | None, limit: int) -> str:
    if not raw:
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", raw))).strip()[:limit]


def _link(raw: str | None, base_url: str) -> str | None:
    if not raw:
        return None
    url = urljoin(base_url, raw.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def _when(raw: str | None, rfc822: bool) -> float | None:
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw.strip()) if rfc822 else datetime.fromisoformat(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return moment.timestamp()


def _item(title: str, summary: str, url: str | None, published_at: float | None) -> Item | None:
    if url is None or not (title or summary):
        return None
    return Item(title or summary[:MAX_TITLE], summary, url, published_at)


# -- XML: RSS 2.0, RSS 1.0 and Atom ------------------------------------------------


def _xml_feed(body: bytes, base_url: str) -> list[Item]:
    try:
        root = SafeET.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise FeedError(f"refused XML: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise FeedError(f"malformed XML: {exc}") from None
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise FeedError("RSS without a channel")
        return _collect(_rss_item(e, base_url) for e in channel.iter("item"))
    if root.tag == f"{RDF}RDF":
        return _collect(_rss_item(e, base_url, RSS1) for e in root.iter(f"{RSS1}item"))
    if root.tag == f"{ATOM}feed":
        return _collect(_atom_entry(e, base_url) for e in root.iter(f"{ATOM}entry"))
    raise FeedError(f"not RSS 2.0, RSS 1.0, Atom or JSON Feed (root element {root.tag[:60]!r})")


def _collect(items: Any) -> list[Item]:
    out: list[Item] = []
    for item in items:
        if item is not None:
            out.append(item)
            if len(out) >= MAX_ITEMS:
                break
    return out


def _rss_item(e: ET.Element, base_url: str, ns: str = "") -> Item | None:
    """An RSS 2.0 item (``ns`` empty) or an RSS 1.0 one (``ns`` is its namespace; it has no guid or pubDate)."""
    guid = e.find(f"{ns}guid")
    permalink = guid.text if guid is not None and guid.get("isPermaLink", "true") == "true" else None
    link = e.findtext(f"{ns}link") or permalink or e.get(f"{RDF}about")
    summary = e.findtext(f"{ns}description") or e.findtext(f"{CONTENT}encoded")
    published = _when(e.findtext(f"{ns}pubDate"), rfc822=True) or _when(e.findtext(f"{DC}date"), rfc822=False)
    return _item(
        _text(e.findtext(f"{ns}title"), MAX_TITLE), _text(summary, MAX_SUMMARY), _link(link, base_url), published
    )


def _atom_entry(e: ET.Element, base_url: str) -> Item | None:
    href = None
    for link in e.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate":
            href = link.get("href")
            break
    summary = e.findtext(f"{ATOM}summary") or e.findtext(f"{ATOM}content")
    published = _when(e.findtext(f"{ATOM}published") or e.findtext(f"{ATOM}updated"), rfc822=False)
    return _item(
        _text(e.findtext(f"{ATOM}title"), MAX_TITLE), _text(summary, MAX_SUMMARY), _link(href, base_url), published
    )


# -- JSON Feed --------------------------------------------------------------------------


def _json_feed(body: bytes, base_url: str) -> list[Item]:
    try:
        feed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"malformed JSON: {exc}") from None
    if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise FeedError("JSON that is not a JSON Feed (no jsonfeed.org version)")
    items = feed.get("items")
    if not isinstance(items, list):
        raise FeedError("JSON Feed without an items list")
    return _collect(_json_item(i, base_url) for i in items if isinstance(i, dict))


def _json_item(i: dict[str, Any], base_url: str) -> Item | None:
    def string(key: str) -> str | None:
        value = i.get(key)
        return value if isinstance(value, str) else None

    summary = string("summary") or string("content_text") or string("content_html")
    return _item(
        _text(string("title"), MAX_TITLE),
        _text(summary, MAX_SUMMARY),
        _link(string("url") or string("external_url"), base_url),
        _when(string("date_published"), rfc822=False),
    )
