"""A bounded worker pool: tasks are pulled lazily from an iterator, at most ``threads`` run and
at most ``threads`` more wait in the queue, so memory stays capped whatever the input size
(each task owns its own buffers: about threads x 2 chunks in flight).

The first error stops the pool: the other workers finish the task at hand, nothing new starts,
and the error is raised in the caller's thread. A KeyboardInterrupt in the caller's thread
sets ``cancel`` so the workers stop too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..errors import CancelledError

T = TypeVar("T")
R = TypeVar("R")

_END = object()


def run_bounded(
    tasks: Iterable[T],
    work: Callable[[T], R],
    *,
    threads: int,
    cancel: threading.Event,
    on_result: Callable[[T, R], None] | None = None,
    cancel_message: str = "cancelled",
) -> None:
    """Run ``work(task)`` for every task on ``threads`` threads; ``on_result`` is called under
    a lock, in completion order."""
    pending: queue.Queue = queue.Queue(maxsize=threads)
    errors: list[BaseException] = []
    failed = threading.Event()
    result_lock = threading.Lock()

    def worker() -> None:
        while True:
            task = pending.get()
            if task is _END:
                return
            if failed.is_set() or cancel.is_set():
                continue
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
                    pending.put(task, timeout=0.2)
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
            pending.put(_END)
        for thread in workers:
            thread.join()
    if errors:
        # Cancellation errors are a consequence; report the cause if there is one.
        real = [e for e in errors if not isinstance(e, CancelledError)]
        raise (real or errors)[0]
    if cancel.is_set():
        raise CancelledError(cancel_message)
