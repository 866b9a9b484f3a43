"""How a build's processes end: together, and without leaving half-written files.

- In the main process, SIGTERM (and SIGHUP, a closed terminal) raise :class:`SystemExit`
  like Ctrl-C raises KeyboardInterrupt, so every atomic write in progress removes its
  temporary file and a parallel build stops its workers (:func:`signals_exit`).
- A worker process ends with its parent: on Linux the kernel sends it SIGTERM when the parent
  dies (``PR_SET_PDEATHSIG``), elsewhere a thread watches the parent. On SIGTERM a worker
  unwinds the track it is rendering (removing its temporary files, stopping its ffmpeg) and
  exits, instead of finishing the track for a parent that is gone (:func:`end_with_parent`).

A process killed outright (SIGKILL) cleans up nothing; what it leaves, the next build
removes (:func:`pipeline.outputs.remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_EXIT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

T = TypeVar("T")


@contextlib.contextmanager
def signals_exit() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise SystemExit(128 + signal number) in the
    main thread. Does nothing outside the main thread, where handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_now(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, exit_now) for signum in _EXIT_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --------------------------------------------------------------------------- workers

_in_task = False
_terminating = False


def end_with_parent() -> None:
    """In a worker process, just started: end when the parent process ends, and unwind the
    running task on SIGTERM (see :func:`run_task`)."""
    parent = os.getppid()
    signal.signal(signal.SIGTERM, _worker_sigterm)
    if not _ask_kernel_for_sigterm():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


def run_task(task: Callable[..., T], *args: Any) -> T:
    """Run ``task`` in a worker so that a SIGTERM unwinds it (its ``finally`` blocks and
    atomic writes clean up) and then ends the process, instead of letting it take the next
    task from a parent that is gone."""
    global _in_task
    _in_task = True
    try:
        return task(*args)
    finally:
        _in_task = False
        if _terminating:
            os._exit(128 + signal.SIGTERM)


def _worker_sigterm(signum: int, frame: Any) -> None:
    global _terminating
    _terminating = True
    if _in_task:
        raise SystemExit(128 + signum)  # unwound, then ended, by run_task
    os._exit(128 + signum)  # idle: nothing to clean up


def _ask_kernel_for_sigterm() -> bool:
    """Linux: have the kernel send this process SIGTERM when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
