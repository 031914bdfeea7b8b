"""Running a local run's tasks in this process, without the Dask scheduler.

The embedded cluster is one worker of threads in this very process, so for a local run the
scheduler adds only its round trips (milliseconds per task) and its start-up (seconds, and
`distributed`'s import). `InlineClient` is the small part of Dask's `Client` the engine uses —
`submit` with futures as dependencies, `cancel`, `scheduler_info` — over a thread pool, and `wait`
is Dask's `wait` for its futures. A run that needs what only a cluster gives (a scheduler address,
worker processes, GPU-tagged workers) keeps the real client; the engine decides which one.

Stages report progress and learn of a cancel through the hooks of the thread that runs them
(`executor.inline_hooks`), as they would through their Dask worker.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from .executor import inline_hooks


class InlineFuture:
    """A task's outcome, read like a Dask future: `status` is pending, finished, error or cancelled."""

    def __init__(self, key: str):
        self.key = key
        self.status = "pending"
        self._value: Any = None
        self._exc: BaseException | None = None
        self.cancel_requested = False
        self._done = threading.Event()
        self._callbacks: list[Callable[["InlineFuture"], None]] = []
        self._lock = threading.Lock()

    def result(self) -> Any:
        self._done.wait()
        if self._exc is not None:
            raise self._exc
        return self._value

    def exception(self) -> BaseException | None:
        self._done.wait()
        return self._exc

    def done(self) -> bool:
        return self._done.is_set()

    def _settle(self, status: str, value: Any = None, exc: BaseException | None = None) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self.status, self._value, self._exc = status, value, exc
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def _on_done(self, cb: Callable[["InlineFuture"], None]) -> None:
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(cb)
                return
        cb(self)


class InlineClient:
    """Tasks on a pool of `threads` threads in this process; `on_event(msg)` receives the progress
    messages stages would have logged on their worker."""

    def __init__(self, threads: int | None = None, on_event: Callable[[dict], None] | None = None):
        self.threads = threads or max(2, os.cpu_count() or 2)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="haysay-stage")
        self._on_event = on_event or (lambda msg: None)
        self._changed = threading.Condition()

    def scheduler_info(self, n_workers: int = -1) -> dict:
        return {"workers": {"local": {"resources": {}, "nthreads": self.threads}}}

    def submit(self, fn: Callable[..., Any], *args: Any, key: str = "", retries: int | None = 0,
               **_dask_options: Any) -> InlineFuture:
        """Run `fn(*args)` once every InlineFuture among `args` has finished, with their results in
        their places; a failed or cancelled dependency fails this task with the same exception."""
        fut = InlineFuture(key)
        fut._on_done(lambda _f: self._notify())
        deps = [a for a in args if isinstance(a, InlineFuture)]
        remaining = [len(deps)]
        lock = threading.Lock()

        def start() -> None:
            failed = next((d for d in deps if d.status != "finished"), None)
            if failed is not None:
                fut._settle("error" if failed.status == "error" else "cancelled", exc=failed._exc)
            elif fut.cancel_requested:
                fut._settle("cancelled")
            else:
                self._pool.submit(self._run, fut, fn, args, retries or 0)

        def dep_done(_d: InlineFuture) -> None:
            with lock:
                remaining[0] -= 1
                ready = remaining[0] == 0
            if ready:
                start()

        if not deps:
            start()
        for d in deps:
            d._on_done(dep_done)
        return fut

    def _run(self, fut: InlineFuture, fn: Callable[..., Any], args: tuple, retries: int) -> None:
        if fut.cancel_requested:
            fut._settle("cancelled")
            return
        values = [a.result() if isinstance(a, InlineFuture) else a for a in args]
        inline_hooks.emit, inline_hooks.cancelled = self._on_event, lambda: fut.cancel_requested
        try:
            for attempt in range(retries + 1):
                try:
                    value = fn(*values)
                except Exception as exc:  # as Dask's `retries`: any exception, then the last one stands
                    if attempt == retries or fut.cancel_requested:
                        fut._settle("cancelled" if fut.cancel_requested else "error", exc=exc)
                        return
                else:
                    fut._settle("cancelled" if fut.cancel_requested else "finished", value)
                    return
        except BaseException as exc:  # noqa: BLE001 - a task must settle, whatever ends it
            fut._settle("error", exc=exc)
            raise
        finally:
            inline_hooks.emit = inline_hooks.cancelled = None

    def cancel(self, futures: Iterable[InlineFuture]) -> None:
        """A task not started never starts; a running one stops at its next progress report."""
        for f in futures:
            f.cancel_requested = True  # read by `start`, `_run` and the stage's progress hook

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait(self, futures: list[InlineFuture], timeout: float | None = None,
             return_when: str = "FIRST_COMPLETED") -> tuple[set, set]:
        """Dask's `wait` for these futures: raises TimeoutError when none (or, for ALL_COMPLETED,
        not all) finished in time."""
        def split() -> tuple[set, set]:
            done = {f for f in futures if f.done()}
            return done, set(futures) - done

        with self._changed:
            want_all = return_when == "ALL_COMPLETED"
            ok = self._changed.wait_for(lambda: (len(split()[1]) == 0) if want_all else bool(split()[0]) or not futures,
                                        timeout)
        if not ok:
            raise TimeoutError(f"no task finished within {timeout} s")
        return split()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
