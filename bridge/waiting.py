"""Waiting for the first of several things, on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def first_of(*awaitables: Awaitable[object], timeout: float | None = None) -> None:
    """Until one of ``awaitables`` is done (or ``timeout`` seconds pass); the others are
    cancelled. Meant for waits on events (``event.wait()``, ``plane.wait_down()``):
    their results are not needed, only which came first, which the caller checks."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
