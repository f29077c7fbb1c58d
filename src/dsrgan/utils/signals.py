"""SIGTERM and SIGHUP stop a command the way Ctrl-C does, so every cleanup path (temporary files, summaries) runs.

Python turns only SIGINT into KeyboardInterrupt; a plain SIGTERM would end the process at once and leave a
half-written temporary file behind. `stop_signals_raise` makes all three raise `Interrupted` (a
KeyboardInterrupt) in the main thread. A library may turn a KeyboardInterrupt into another exception (an
import that fails half-way): `raise_if_interrupted` restores it, so that an interrupt is never reported as an
internal error.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """A stop requested by a signal; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + int(signum)


def _handler(signum, _frame) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """While inside: SIGINT, SIGTERM and SIGHUP raise Interrupted (main thread only; elsewhere nothing changes).

    The previous handlers come back on exit, and the record of received signals is cleared on entry."""
    import threading

    _received.clear()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def received() -> int | None:
    """The first stop signal received since `install`, or None."""
    return _received[0] if _received else None


def raise_if_interrupted(exc: BaseException | None = None) -> None:
    """Raise Interrupted if a stop signal arrived or `exc` was caused by a KeyboardInterrupt."""
    seen = set()
    e = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(getattr(e, "signum", signal.SIGINT)) from exc
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    if _received:
        raise Interrupted(_received[0]) from exc
