"""Running a Guard call off the event loop, for the drop-ins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def off_loop(call: Callable[[], T]) -> T:
    """``call()`` on the running asyncio loop's default executor (the
    extension releases the GIL while a decision waits on the network); in
    place under any other event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return call()
    return await loop.run_in_executor(None, call)
