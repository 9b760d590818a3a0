"""Share a CPU-bound map with one forked child, on Linux, when the job is large enough to pay for it.

pygit2 keeps the GIL while libgit2 writes a patch, so threads cannot overlap patch generation;
a second process can. The child computes the items of the tail share and writes each result,
length-prefixed, into an unlinked temporary file; the parent computes the head share meanwhile,
then reads the child's results. Results come back in the items' order either way.

Anything unexpected (no `fork`, another thread running, the child failing or killed) falls back
to computing in the parent, so the answer never depends on whether a child helped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import IO, TypeVar

Item = TypeVar("Item")

MIN_PARALLEL_WEIGHT = 2_000_000  # below this (about 2 MB of blobs) a fork costs more than it saves
CHILD_SHARE = 0.6  # the parent also consumes every result, so the child takes the larger share
_LENGTH = struct.Struct("<q")
_NONE = -1


def split_map(func: Callable[[Item], bytes | None], items: Sequence[Item],
              weights: Sequence[int]) -> Generator[bytes | None, None, None]:
    """`func(item)` for each item in order, the tail share computed by a forked child when worth it.

    The weights (one per item, any unit) decide whether to fork and where to cut.
    """
    total = sum(weights)
    if total < MIN_PARALLEL_WEIGHT or len(items) < 2 or not _can_fork():
        yield from map(func, items)
        return
    cut = _cut(weights, total * (1 - CHILD_SHARE))
    with contextlib.ExitStack() as stack:
        try:
            spool = stack.enter_context(tempfile.TemporaryFile(prefix="qwen-review-"))
            pid = _start_child(func, items[cut:], spool)
        except OSError:  # no writable temporary directory, or no process to spare
            yield from map(func, items)
            return
        finished = False
        try:
            yield from map(func, items[:cut])
            finished = True
        finally:
            if not finished:  # the caller stopped early or failed: the child's work is not wanted
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            succeeded = _reap(pid)
        if succeeded:
            yield from _read_results(spool, len(items) - cut)
        else:
            yield from map(func, items[cut:])


def _can_fork() -> bool:
    # A thread holding a lock at fork time would leave it held in the child forever; with SIGCHLD
    # ignored (inherited from whoever started us) the kernel reaps the child before we can wait for it.
    return (sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1
            and signal.getsignal(signal.SIGCHLD) is not signal.SIG_IGN)


def _cut(weights: Sequence[int], head_weight: float) -> int:
    """The first index whose running weight passes `head_weight`, at least 1 and at most len - 1."""
    running = 0
    for index, weight in enumerate(weights):
        running += weight
        if running >= head_weight:
            return min(max(index + 1, 1), len(weights) - 1)
    return len(weights) - 1


def _start_child(func: Callable[[Item], bytes | None], items: Sequence[Item], spool: IO[bytes]) -> int:
    pid = os.fork()
    if pid != 0:
        return pid
    status = 1
    try:  # the child: never returns, never runs the parent's cleanup or flushes its buffers
        write = spool.write
        for item in items:
            result = func(item)
            if result is None:
                write(_LENGTH.pack(_NONE))
            else:
                write(_LENGTH.pack(len(result)))
                write(result)
        spool.flush()
        status = 0
    except BaseException:  # the parent recomputes whatever the child could not
        pass
    finally:
        os._exit(status)


def _reap(pid: int) -> bool:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:  # reaped by someone else: its results cannot be trusted
        return False
    return os.waitstatus_to_exitcode(status) == 0


def _read_results(spool: IO[bytes], count: int) -> Iterator[bytes | None]:
    spool.seek(0)
    data = spool.read()
    offset = 0
    for _ in range(count):
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if length == _NONE:
            yield None
        else:
            yield data[offset : offset + length]
            offset += length
