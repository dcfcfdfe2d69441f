"""Bus workers: one thread per physical bus that runs blocking driver calls in order, off the event loop.

A call that exceeds its timeout is abandoned and its bus gets a fresh worker thread (a stuck I2C transaction must
not freeze every later read); the stuck thread is counted in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from sensors.errors import SensorTimeout

T = TypeVar("T")


class BusThread(Executor):
    """One daemon thread that runs submitted calls in order: a bus's worker thread.

    Not a ``ThreadPoolExecutor``: Python joins those threads when the interpreter exits, so one thread stuck
    for good inside a driver (an I2C read that never returns) kept the whole process from exiting after
    SIGTERM until systemd killed it. A daemon thread is left behind at exit instead.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``fn(*args, **kwargs)``; raise RuntimeError after :meth:`shutdown`."""
        if kwargs:
            args, fn = (), _with_kwargs(fn, args, kwargs)
        fut: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.put((fut, fn, args))
        return fut

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the caller, like a ThreadPoolExecutor
                fut.set_exception(exc)
            else:
                fut.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more calls; the thread ends after what is queued (cancelled first if asked)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if cancel_futures:
                with contextlib.suppress(queue.Empty):
                    while (item := self._queue.get_nowait()) is not None:
                        item[0].cancel()
            self._queue.put(None)
        if wait:
            self.thread.join()


def _with_kwargs(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], T]:
    return lambda: fn(*args, **kwargs)


class _Call:
    """One call on a bus: waiting for its turn, then holding the bus while it runs on the bus thread."""

    __slots__ = ("deadline", "executor", "turn")

    def __init__(self) -> None:
        self.turn: asyncio.Future[None] | None = None
        """Resolved when the bus is handed to this call (None: it got the bus at once)."""
        self.deadline: float | None = None
        """Loop time by which the running call must have returned (None: no limit)."""
        self.executor: BusThread | None = None
        """The thread it runs on, once running."""


class BusWorker:
    """Serialises blocking calls for one bus on one dedicated thread.

    Calls run one at a time in submission order; the queue is kept here, not in the thread pool, so a call
    waiting behind one that hangs is never lost: when the hanging call is abandoned (its timeout expired),
    the bus gets a fresh thread and the waiting calls run there, each with its full timeout.
    """

    def __init__(self, bus_id: str, on_abandon: Callable[[str], None] | None = None) -> None:
        self.bus_id = bus_id
        self._on_abandon = on_abandon
        self._executor = self._new_executor()
        self._owner: _Call | None = None
        self._waiting: deque[_Call] = deque()
        self._closed = False
        self.abandoned_threads = 0

    def _new_executor(self) -> BusThread:
        return BusThread(f"bus-{self.bus_id}")

    def _timeout(self, timeout_s: float | None) -> SensorTimeout:
        return SensorTimeout(errno.ETIMEDOUT, f"no answer within {timeout_s:g} s on {self.bus_id}")

    async def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """Run ``fn(*args)`` on the bus thread; raise :class:`SensorTimeout` after ``timeout_s``.

        ``timeout_s`` bounds the call itself once it runs and, separately, the wait for the bus while it is held
        by a call without a timeout (a call with one frees the bus when it expires; this call then runs on the
        fresh thread). A timeout raised by ``fn`` itself is passed through unchanged and abandons nothing.
        """
        loop = asyncio.get_running_loop()
        me = _Call()
        await self._acquire(me, loop, timeout_s)
        try:
            executor = me.executor = self._executor
            me.deadline = None if timeout_s is None else loop.time() + timeout_s
            fut = loop.run_in_executor(executor, fn, *args)
            try:
                async with asyncio.timeout(timeout_s) as cm:
                    return await fut
            except TimeoutError:
                if not cm.expired():
                    raise  # the driver's own timeout (e.g. a conversion that never finished)
                # The thread is stuck inside the driver: leave it behind (its late result goes nowhere, the
                # future was cancelled) and give the bus a fresh one.
                self._abandon(executor)
                raise self._timeout(timeout_s) from None
        finally:
            self._release(me)

    async def _acquire(self, me: _Call, loop: asyncio.AbstractEventLoop, timeout_s: float | None) -> None:
        """Wait until ``me`` holds the bus."""
        if self._owner is None and not self._waiting:
            self._owner = me
            return
        turn = me.turn = loop.create_future()
        self._waiting.append(me)
        self._wake()
        try:
            while not turn.done():
                await asyncio.wait((turn,), timeout=timeout_s)  # never cancels ``turn`` itself
                if turn.done():
                    break
                owner = self._owner
                if owner is None or owner.executor is None:
                    continue  # the bus was just handed on (never the case while a thread is stuck)
                if owner.deadline is not None:
                    continue  # the running call has its own timeout: when that expires, the bus moves on
                # Held for longer than this call accepts, by a call without a timeout: the thread is stuck.
                self._waiting.remove(me)
                turn.cancel()
                self._abandon(owner.executor)
                raise self._timeout(timeout_s)
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release(me)  # handed the bus just as this call was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(me)
                turn.cancel()
            raise

    def _release(self, me: _Call) -> None:
        if self._owner is me:
            self._owner = None
            self._wake()

    def _wake(self) -> None:
        """Hand a free bus to the first call still waiting."""
        while self._owner is None and self._waiting:
            nxt = self._waiting.popleft()
            if nxt.turn is not None and not nxt.turn.done():
                nxt.turn.set_result(None)
                self._owner = nxt

    def _abandon(self, executor: BusThread) -> None:
        """Leave ``executor``'s thread to the call stuck on it; later calls run on a fresh thread."""
        if executor is not self._executor or self._closed:
            return  # already replaced (by another call that timed out on it), or shut down
        executor.shutdown(wait=False)  # nothing is queued on it: the queue lives in this object
        self._executor = self._new_executor()
        self.abandoned_threads += 1
        if self._on_abandon:
            self._on_abandon(self.bus_id)
        # The stuck call no longer holds the bus (its caller still gets its own timeout or late result).
        self._owner = None
        self._wake()

    def shutdown(self) -> None:
        """Stop accepting work; a call still running finishes in the background."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
