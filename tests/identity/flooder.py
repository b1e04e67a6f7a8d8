"""A hostile client for the flood test, run as its own process so it cannot slow the measuring one.

    python -m tests.identity.flooder URL SECONDS CONNECTIONS TOKEN...

Every connection sends valid frames (document updates and awareness) as
fast as the socket takes them, never reads, and reconnects at once whenever
the hub closes it. At the end it prints one JSON line: the close codes seen
and the frames sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from pycrdt import Doc, Text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rooms import codec
from rooms.awareness import AwarenessEntry, encode_awareness


def payloads(seed: int, n: int = 2000) -> list[bytes]:
    doc: Doc[Any] = Doc(client_id=10_000 + seed)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("flood", type=Text)
    for _ in range(n // 2):
        text.insert(len(text), "灌")
    out = []
    for i, update in enumerate(updates):
        out.append(codec.sync_update(update))
        entry = AwarenessEntry(20_000 + seed, i + 1, json.dumps({"cursor": i}))
        out.append(codec.awareness_message(encode_awareness([entry])))
    return out


async def flood(url: str, until: float, frames: list[bytes], codes: Counter[str], sent: list[int]) -> None:
    while time.monotonic() < until:
        try:
            async with connect(url, open_timeout=5, close_timeout=1, max_queue=None) as ws:
                try:
                    for frame in frames:
                        await ws.send(frame)
                        sent[0] += 1
                        if time.monotonic() >= until:
                            break
                    await asyncio.wait_for(ws.wait_closed(), max(0.0, until - time.monotonic()))
                except (ConnectionClosed, TimeoutError):
                    pass
                code = ws.close_code
                codes[str(code)] += 1
        except InvalidStatus as exc:
            codes[f"http {exc.response.status_code}"] += 1
        except (OSError, TimeoutError):
            codes["connect failed"] += 1


async def main(url: str, seconds: float, per_token: int, tokens: list[str]) -> None:
    until = time.monotonic() + seconds
    codes: Counter[str] = Counter()
    sent = [0]
    tasks = []
    for i, token in enumerate(tokens):
        for j in range(per_token):
            frames = payloads(i * per_token + j)
            tasks.append(flood(f"{url}?token={token}", until, frames, codes, sent))
    await asyncio.gather(*tasks)
    print(json.dumps({"codes": dict(codes), "sent": sent[0]}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]))
