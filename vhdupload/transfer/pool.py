"""A bounded worker pool: tasks are pulled lazily from an iterator, at most ``threads`` run and
at most ``threads`` more wait in the queue, so memory stays capped whatever the input size
(each task owns its own buffers: about threads x 2 chunks in flight).

The first error stops the pool: the other workers finish the task at hand, nothing new starts,
and the error is raised in the caller's thread. A KeyboardInterrupt in the caller's thread
sets ``cancel`` so the workers stop too.

With a ``controller`` (:class:`~vhdupload.transfer.concurrency.AdaptiveConcurrency`) the pool
starts ``controller.maximum`` threads but only those numbered below ``controller.limit`` take
tasks; the others wait, holding nothing, so memory follows the limit, not the maximum.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from ..errors import CancelledError

if TYPE_CHECKING:
    from .concurrency import AdaptiveConcurrency

T = TypeVar("T")
R = TypeVar("R")


def run_bounded(
    tasks: Iterable[T],
    work: Callable[[T], R],
    *,
    threads: int,
    cancel: threading.Event,
    on_result: Callable[[T, R], None] | None = None,
    cancel_message: str = "cancelled",
    controller: "AdaptiveConcurrency | None" = None,
) -> None:
    """Run ``work(task)`` for every task on ``threads`` threads (or as many as ``controller``
    allows at each moment); ``on_result`` is called under a lock, in completion order."""
    if controller is not None:
        _run_adaptive(tasks, work, controller=controller, cancel=cancel, on_result=on_result,
                      cancel_message=cancel_message)
        return
    # A task travels as ``(task,)``; None tells a worker to stop.
    pending: queue.Queue[tuple[T] | None] = queue.Queue(maxsize=threads)
    errors: list[BaseException] = []
    failed = threading.Event()
    result_lock = threading.Lock()

    def worker() -> None:
        while True:
            taken = pending.get()
            if taken is None:
                return
            if failed.is_set() or cancel.is_set():
                continue
            (task,) = taken
            try:
                result = work(task)
                if on_result is not None:
                    with result_lock:
                        on_result(task, result)
            except BaseException as exc:  # handed to the caller's thread below
                errors.append(exc)
                failed.set()

    workers = [threading.Thread(target=worker, name=f"vhdupload-{i}", daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    try:
        for task in tasks:
            while True:
                if failed.is_set() or cancel.is_set():
                    break
                try:
                    pending.put((task,), timeout=0.2)
                    break
                except queue.Full:
                    continue
            if failed.is_set() or cancel.is_set():
                break
    except BaseException:
        cancel.set()
        raise
    finally:
        for _ in workers:
            # Workers skip queued tasks once failed/cancelled, so the queue drains quickly.
            pending.put(None)
        for thread in workers:
            thread.join()
    if errors:
        # Cancellation errors are a consequence; report the cause if there is one.
        real = [e for e in errors if not isinstance(e, CancelledError)]
        raise (real or errors)[0]
    if cancel.is_set():
        raise CancelledError(cancel_message)


def _run_adaptive(
    tasks: Iterable[T],
    work: Callable[[T], R],
    *,
    controller: "AdaptiveConcurrency",
    cancel: threading.Event,
    on_result: Callable[[T, R], None] | None,
    cancel_message: str,
) -> None:
    """The pool of :func:`run_bounded` with a limit that moves: worker ``i`` takes a task only
    while ``i < controller.limit``. One condition guards the queue, so a change of the limit,
    a new task, the end of the input and a failure all wake exactly the threads concerned."""
    backlog: deque[T] = deque()
    room = max(controller.maximum, 1)  # queued task descriptors (cheap: no data is read yet)
    # Three conditions on one lock, so each event wakes only the threads it concerns: a new
    # task one worker, a taken task the producer, a change of the limit everyone.
    lock = threading.Lock()
    has_work = threading.Condition(lock)
    has_room = threading.Condition(lock)
    over_limit = threading.Condition(lock)
    state = {"closing": False}
    errors: list[BaseException] = []
    result_lock = threading.Lock()

    def stopped() -> bool:
        return bool(errors) or cancel.is_set()

    def wake_all() -> None:
        with lock:
            has_work.notify_all()
            has_room.notify_all()
            over_limit.notify_all()

    controller.subscribe(wake_all)

    def next_task(index: int) -> tuple[T] | None:
        """The next task for worker ``index``, or None when it should stop (the timeouts only
        bound how late an outside cancel is noticed)."""
        with lock:
            while True:
                if stopped() or (state["closing"] and not backlog):
                    return None
                if index >= controller.limit:
                    if backlog:
                        has_work.notify()  # a wake-up meant for a worker within the limit
                    over_limit.wait(0.5)
                    continue
                if backlog:
                    task = backlog.popleft()
                    has_room.notify()
                    return (task,)
                has_work.wait(0.5)

    def worker(index: int) -> None:
        while True:
            taken = next_task(index)
            if taken is None:
                return
            try:
                if not controller.enter(stopped):
                    return
            except BaseException as exc:  # a broken controller must not leave the pool waiting
                with lock:
                    errors.append(exc)
                wake_all()
                return
            try:
                result = work(taken[0])
                if on_result is not None:
                    with result_lock:
                        on_result(taken[0], result)
            except BaseException as exc:  # handed to the caller's thread below
                with lock:
                    errors.append(exc)
                wake_all()
            finally:
                controller.leave()

    workers = [
        threading.Thread(target=worker, args=(i,), name=f"vhdupload-{i}", daemon=True)
        for i in range(controller.maximum)
    ]
    for thread in workers:
        thread.start()
    try:
        for task in tasks:
            with lock:
                while len(backlog) >= room and not stopped():
                    has_room.wait(0.2)
                if stopped():
                    break
                backlog.append(task)
                has_work.notify()
    except BaseException:
        cancel.set()
        raise
    finally:
        with lock:
            state["closing"] = True
            if cancel.is_set():
                backlog.clear()
        wake_all()
        for thread in workers:
            thread.join()
    if errors:
        real = [e for e in errors if not isinstance(e, CancelledError)]
        raise (real or errors)[0]
    if cancel.is_set():
        raise CancelledError(cancel_message)
