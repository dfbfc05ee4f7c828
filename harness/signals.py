"""Signal handling that keeps cleanup structural.

SIGTERM is turned into KeyboardInterrupt so that the same `finally` blocks
that handle Ctrl-C also run when a CI job or a supervisor stops harness.
Teardown runs with both signals deferred: a second Ctrl-C while a target is
being removed waits until it is gone instead of leaking it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


def quiet() -> None:
    """Leave SIGINT and SIGTERM to the main thread (call first thing in a thread harness starts).

    The kernel hands a process's signal to any thread that does not block it,
    and Python acts on it only when its main thread next runs: a main thread
    blocked in a wait would not see Ctrl-C until that wait ended. Threads
    inherit the mask of the thread that starts them.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def background(run: Callable[..., object], *args: object, name: str) -> threading.Thread:
    """A daemon thread running RUN(*ARGS) with SIGINT and SIGTERM left to the main thread (not yet started)."""

    def quietly() -> None:
        quiet()
        run(*args)

    return threading.Thread(target=quietly, name=name, daemon=True)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises KeyboardInterrupt; the old handler is restored after."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then act on them."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            raise KeyboardInterrupt(f"received {signal.Signals(received[0]).name} during cleanup")


@contextmanager
def deadline(seconds: float | None, expired: Callable[[], BaseException]) -> Iterator[None]:
    """Raise expired() in the main thread if the block is still running after SECONDS.

    The alarm is cancelled before the block's own cleanup can be cut short: leave
    the block (or call `cancel`) before tearing anything down. In other threads,
    and without SECONDS, there is no deadline.
    """
    if seconds is None or not _in_main_thread():
        yield
        return

    fired = False

    def fire(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        fired = True
        raise expired()

    previous = signal.signal(signal.SIGALRM, fire)
    # After the first alarm, another every 0.1 s: an exception raised inside an asyncio callback (a load burst) is
    # logged and swallowed by the event loop, so the deadline is raised again until it lands where it is not.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if fired:
        raise expired()  # every raise was swallowed and the block ran to its end: it still ran out of time
