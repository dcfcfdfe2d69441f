"""Bus workers: one thread per physical bus that runs blocking driver calls in order, off the event loop.

Everything queued on a free bus crosses to its thread in one batch: the sensors of a bus due at one poll tick cost
one handoff and one wake-up of the loop, not one per reading (issue 13: a handoff costs 30-130 us of CPU and two
context switches, far more than a read). A call that exceeds its timeout (timed from its own start, inside its
batch) is abandoned and its bus gets a fresh worker thread (a stuck I2C transaction must not freeze every later
read); the stuck thread is counted in /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from gateway.pollgrid import Waiter, check
from sensors.errors import SensorTimeout

T = TypeVar("T")


class CallAbandoned(SensorTimeout):
    """The bus worker gave up on a call past its timeout. ``ran``: the call had started, so it may still finish
    on its abandoned thread (its bus exchange happens, its result goes nowhere); False: it never ran."""

    ran = True


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
    """One call on a bus: queued, then (in a batch) run on the bus thread; its outcome comes back in ``future``.

    ``skip``, ``started_at`` and ``outcome`` are shared with the bus thread, under the batch's lock.
    """

    __slots__ = (
        "args",
        "ended_ns",
        "fn",
        "future",
        "outcome",
        "queued_at",
        "skip",
        "started_at",
        "timeout_s",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        timeout_s: float | None,
        future: asyncio.Future[Any],
        now: float,
    ) -> None:
        self.fn = fn
        self.args = args
        self.timeout_s = timeout_s
        self.future = future
        self.queued_at = now
        self.started_at: float | None = None
        self.outcome: tuple[bool, Any] | None = None
        """(True, result) or (False, exception), once it returned."""
        self.ended_ns = 0
        """Wall-clock time (``time.time_ns()``) when it returned: the time stamp of what it read."""
        self.skip = False
        """Cancelled, or failed by the watchdog, before it started: the bus thread passes it by."""

    def waiter(self) -> Waiter:
        return Waiter(self.queued_at, self.timeout_s)

    def deliver(self) -> None:
        """Hand the outcome to the caller, unless it stopped waiting (cancelled, or timed out)."""
        if self.outcome is None or self.future.done():
            return
        ok, value = self.outcome
        if ok:
            self.future.set_result(value)
        else:
            self.future.set_exception(value)


class _Batch:
    """The calls handed to the bus thread in one round trip, run one after another in order."""

    __slots__ = ("abandoned", "calls", "clock", "current", "lock", "timer")

    def __init__(self, calls: list[_Call], clock: Callable[[], float]) -> None:
        self.calls = calls
        self.clock = clock
        self.lock = threading.Lock()
        self.current: _Call | None = None
        """The call running on the bus thread (None: not started yet, between two calls, or done)."""
        self.abandoned = False
        """Its thread was left to a stuck call: it starts no further call."""
        self.timer: asyncio.TimerHandle | None = None

    def run(self) -> None:
        """On the bus thread: every call not skipped, in order, until done or abandoned."""
        for call in self.calls:
            with self.lock:
                if self.abandoned:
                    return
                if call.skip:
                    continue
                call.started_at = self.clock()
                self.current = call
            try:
                outcome: tuple[bool, Any] = (True, call.fn(*call.args))
            except BaseException as exc:  # handed to the caller, like a ThreadPoolExecutor
                outcome = (False, exc)
            call.ended_ns = time.time_ns()
            with self.lock:
                call.outcome = outcome
                self.current = None


class BusWorker:
    """Serialises blocking calls for one bus on one dedicated thread, one round trip per batch.

    Calls run one at a time in submission order. Everything queued when the bus is free goes to the bus thread
    in one batch (one handoff and one wake-up of the loop, not one per call): the sensors of a bus due at the
    same poll tick (:mod:`gateway.pollgrid`) are read in one round trip. A watchdog on the loop
    (:func:`gateway.pollgrid.check`) times each call from when it starts: a call past its timeout is abandoned,
    the bus gets a fresh thread, and the calls not yet started (in that batch or queued) run there in order,
    each with its full timeout.
    """

    def __init__(self, bus_id: str, on_abandon: Callable[[str], None] | None = None) -> None:
        self.bus_id = bus_id
        self._on_abandon = on_abandon
        self._executor = self._new_executor()
        self._queue: deque[_Call] = deque()
        self._batch: _Batch | None = None
        self._flush_pending = False
        self._closed = False
        self.abandoned_threads = 0
        self.batches = 0
        """Round trips to the bus thread so far."""

    def _new_executor(self) -> BusThread:
        return BusThread(f"bus-{self.bus_id}")

    def _timeout(self, timeout_s: float | None, *, ran: bool) -> CallAbandoned:
        exc = CallAbandoned(errno.ETIMEDOUT, f"no answer within {timeout_s:g} s on {self.bus_id}")
        exc.ran = ran
        exc.__suppress_context__ = True  # raised in the caller's ``except`` blocks, about nothing there
        return exc

    async def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """Run ``fn(*args)`` on the bus thread; raise :class:`SensorTimeout` after ``timeout_s``.

        ``timeout_s`` bounds the call itself once it runs and, separately, the wait for the bus while it is held
        by a call without a timeout (a call with one frees the bus when it expires; this call then runs on the
        fresh thread). A timeout raised by ``fn`` itself is passed through unchanged and abandons nothing.
        """
        result, _ = await self.call_timed(fn, *args, timeout_s=timeout_s)
        return result

    async def call_timed(
        self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None
    ) -> tuple[T, int]:
        """:meth:`call`, and the wall-clock time (ns) at which ``fn`` returned on the bus thread: a reading's
        time stamp (its result reaches the loop only once the rest of its batch has run)."""
        if self._closed:
            raise RuntimeError("cannot schedule new calls after shutdown")
        loop = asyncio.get_running_loop()
        me = _Call(fn, args, timeout_s, loop.create_future(), loop.time())
        self._queue.append(me)
        batch = self._batch
        if batch is None:
            if not self._flush_pending:
                self._flush_pending = True
                loop.call_soon(self._flush)  # whatever else is queued in this loop iteration goes along
        elif timeout_s is not None and (batch.timer is None or batch.timer.when() > me.queued_at + timeout_s):
            self._arm(batch, me.queued_at + timeout_s)  # it may have to give up on a call without a timeout
        try:
            result: T = await me.future
        except BaseException:
            self._forget(me)
            raise
        return result, me.ended_ns

    def _forget(self, me: _Call) -> None:
        """The caller of ``me`` stopped waiting: a call not started yet never runs."""
        if me.started_at is not None:
            return  # running or done: its outcome goes nowhere (one the thread starts just now runs, likewise)
        batch = self._batch
        if batch is not None and me in batch.calls:
            with batch.lock:
                me.skip = True
        else:
            with contextlib.suppress(ValueError):
                self._queue.remove(me)

    def _flush(self) -> None:
        """Hand everything queued to the bus thread, in one batch."""
        self._flush_pending = False
        if self._batch is not None or self._closed or not self._queue:
            return
        loop = asyncio.get_running_loop()
        calls = [c for c in self._queue if not c.future.done()]
        self._queue.clear()
        if not calls:
            return
        batch = self._batch = _Batch(calls, loop.time)
        self.batches += 1
        fut = loop.run_in_executor(self._executor, batch.run)
        fut.add_done_callback(lambda _: self._batch_done(batch))
        timeouts = [c.timeout_s for c in calls if c.timeout_s is not None]
        if timeouts:
            self._arm(batch, loop.time() + min(timeouts))

    def _arm(self, batch: _Batch, when: float) -> None:
        if batch.timer is not None:
            batch.timer.cancel()
        batch.timer = asyncio.get_running_loop().call_at(when, self._check, batch)

    def _batch_done(self, batch: _Batch) -> None:
        """The bus thread finished ``batch`` (or, abandoned, came back from its stuck call at last)."""
        for call in batch.calls:
            call.deliver()  # a late result goes to a caller without a timeout; a timed-out one never sees it
        if batch is not self._batch:
            return
        self._batch = None
        if batch.timer is not None:
            batch.timer.cancel()
        self._flush()

    def _check(self, batch: _Batch) -> None:
        """The watchdog of the running batch (see :func:`gateway.pollgrid.check`)."""
        batch.timer = None
        if batch is not self._batch:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        with batch.lock:
            cur = batch.current
            running = None if cur is None or cur.started_at is None else Waiter(cur.started_at, cur.timeout_s)
            waiting = [c for c in batch.calls if c.started_at is None and not c.skip]
            waiting += [c for c in self._queue if not c.future.done()]
            verdict = check(now, running, [c.waiter() for c in waiting])
            if verdict.running_expired or verdict.expired_waiters:
                batch.abandoned = True  # the stuck thread starts nothing more
                for i in verdict.expired_waiters:
                    waiting[i].skip = True
        if verdict.next_check is not None:
            self._arm(batch, verdict.next_check)
            return
        if not batch.abandoned:
            return
        if verdict.running_expired and cur is not None and not cur.future.done():
            cur.future.set_exception(self._timeout(cur.timeout_s, ran=True))
        for i in verdict.expired_waiters:
            w = waiting[i]
            if not w.future.done():
                w.future.set_exception(self._timeout(w.timeout_s, ran=False))
        for call in batch.calls:
            call.deliver()  # those that ran before the stuck one
        rest = [c for c in batch.calls if c.started_at is None and not c.skip]
        self._queue = deque([*rest, *(c for c in self._queue if not c.skip)])
        self._abandon()
        self._batch = None
        self._flush()

    def _abandon(self) -> None:
        """Leave the current thread to the call stuck on it; later calls run on a fresh thread."""
        if self._closed:
            return
        self._executor.shutdown(wait=False)  # nothing is queued on it: the queue lives in this object
        self._executor = self._new_executor()
        self.abandoned_threads += 1
        if self._on_abandon:
            self._on_abandon(self.bus_id)

    def shutdown(self) -> None:
        """Stop accepting work; a call still running finishes in the background; calls still queued fail."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        queued, self._queue = self._queue, deque()
        for call in queued:
            with contextlib.suppress(RuntimeError):  # its loop may be closed already
                if not call.future.done():
                    call.future.set_exception(RuntimeError("the bus worker was shut down"))
