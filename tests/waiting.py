"""Waiting on conditions with a deadline, never for a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(condition: Callable[[], object], within: float = 5.0, interval: float = 0.005) -> None:
    """Poll ``condition`` until it is true; fail after ``within`` seconds.

    For state that offers no event to wait on (a counter in another object,
    a process's output); anything with an event should await the event.
    """
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling is the point; the deadline bounds it
            await asyncio.sleep(interval)
