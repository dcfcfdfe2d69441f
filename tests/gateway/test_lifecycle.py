"""The stop scaffolding the gateway and the fleet share (gateway/lifecycle.py)."""

from __future__ import annotations

import asyncio

from gateway.lifecycle import Stoppable


async def test_wait_closed_returns_once_stop_is_called() -> None:
    """wait_closed() blocks until stop(), then returns."""
    app = Stoppable()
    waiter = asyncio.create_task(app.wait_closed())
    await asyncio.sleep(0.01)
    before = waiter.done()
    app.stop()
    await asyncio.wait_for(waiter, 1.0)
    assert (before, waiter.done()) == (False, True)


async def test_cancel_ends_every_task_and_swallows_their_errors() -> None:
    """_cancel() cancels each task and returns only when all have ended, whatever they raised."""

    async def forever() -> None:
        await asyncio.Event().wait()

    async def fails() -> None:
        raise RuntimeError("boom")

    tasks = [asyncio.create_task(forever()), asyncio.create_task(fails())]
    await asyncio.sleep(0)
    await Stoppable._cancel(tasks)
    assert [t.cancelled() for t in tasks] == [True, False]
    assert isinstance(tasks[1].exception(), RuntimeError)
