"""Fetching one feed over HTTP, within bounds.

``fetch`` makes one conditional GET (``If-None-Match`` / ``If-Modified-Since``
from the previous answer's ``ETag`` / ``Last-Modified``) and either returns
the body or raises ``FetchError`` with a short reason. Bounds:

- the whole fetch, redirects and body included, ends after ``within``
  seconds;
- at most ``max_redirects`` redirects (a loop ends there);
- the body is read in chunks and the fetch aborted as soon as it passes
  ``max_bytes`` (decompressed bytes, so a compression bomb stops too); a
  ``Content-Length`` above the cap is refused before reading;
- any status other than 200 or 304 is an error;
- the session's connector refuses internal addresses (``workers.monitor.guard``),
  for the URL and every redirect: the reason is the error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from workers.monitor.guard import Refused

__all__ = ["FetchError", "Fetched", "fetch"]

USER_AGENT = "Tongpin-Monitor/0.1 (+feed fetcher)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
CHUNK = 64 * 1024


class FetchError(Exception):
    """A fetch that produced no usable body (the message says why)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    not_modified: bool  # 304: the feed is as it was
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    url: str  # after redirects, for resolving relative links


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    within: float,
    max_bytes: int,
    max_redirects: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with asyncio.timeout(within):
            async with session.get(url, headers=headers, allow_redirects=True, max_redirects=max_redirects) as resp:
                final = str(resp.url)
                if resp.status == 304:
                    return Fetched(True, b"", "", etag, last_modified, final)
                if resp.status != 200:
                    raise FetchError(f"HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise FetchError(f"body of {resp.content_length} bytes is over the cap of {max_bytes}")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK):
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"body over the cap of {max_bytes} bytes")
                return Fetched(
                    False,
                    bytes(body),
                    resp.headers.get("Content-Type", ""),
                    resp.headers.get("ETag"),
                    resp.headers.get("Last-Modified"),
                    final,
                )
    except TimeoutError:
        raise FetchError(f"timed out after {within:g} s") from None
    except aiohttp.TooManyRedirects:
        raise FetchError(f"more than {max_redirects} redirects") from None
    except aiohttp.ClientConnectorError as exc:
        reason = str(exc.os_error) if isinstance(exc.os_error, Refused) else f"{type(exc).__name__}: {exc}"
        raise FetchError(reason[:300]) from None
    except (aiohttp.ClientError, ValueError) as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}"[:300]) from None
