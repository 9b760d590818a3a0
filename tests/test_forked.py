"""split_map: the same results in the same order as map(), whether or not a forked child helped."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from qwen_review import forked
from qwen_review.forked import split_map


def tagged(item: int) -> bytes | None:
    """The item and the process that computed it; None for multiples of 5 (a binary patch, say)."""
    return None if item % 5 == 0 else f"{item}:{os.getpid()}".encode()


def test_the_tail_share_is_computed_by_a_child_and_comes_back_in_order(always_fork: list[int]) -> None:
    items = list(range(1, 41))
    results = list(split_map(tagged, items, [1] * len(items)))

    assert len(always_fork) == 1
    assert [r.split(b":")[0] if r else None for r in results] == [
        None if i % 5 == 0 else str(i).encode() for i in items]
    pids = [int(r.split(b":")[1]) for r in results if r]
    assert pids[0] == os.getpid()
    assert pids[-1] == always_fork[0]
    # About 60% of the weight goes to the child.
    assert sum(pid == always_fork[0] for pid in pids) > sum(pid == os.getpid() for pid in pids)


def test_weights_place_the_cut(always_fork: list[int]) -> None:
    # One heavy item first: the parent takes it alone and the child the rest.
    results = list(split_map(tagged, [1, 2, 3, 4], [100, 1, 1, 1]))
    pids = [int(r.split(b":")[1]) for r in results if r]
    assert pids == [os.getpid(), *[always_fork[0]] * 3]


def test_a_failing_child_is_replaced_by_the_parent(always_fork: list[int]) -> None:
    parent = os.getpid()

    def fails_in_a_child(item: int) -> bytes | None:
        if os.getpid() != parent and item == 30:
            raise RuntimeError("child trouble")
        return tagged(item)

    results = list(split_map(fails_in_a_child, list(range(1, 41)), [1] * 40))

    assert len(always_fork) == 1
    assert results == [None if i % 5 == 0 else f"{i}:{parent}".encode() for i in range(1, 41)]


def test_stopping_early_kills_the_child_instead_of_waiting(always_fork: list[int]) -> None:
    parent = os.getpid()

    def slow_in_a_child(item: int) -> bytes | None:
        if os.getpid() != parent:
            time.sleep(30)
        return b"x"

    began = time.monotonic()
    results = split_map(slow_in_a_child, list(range(10)), [1] * 10)
    assert next(results) == b"x"
    results.close()  # type: ignore[attr-defined]

    assert time.monotonic() - began < 5
    with pytest.raises(ChildProcessError):  # already reaped
        os.waitpid(always_fork[0], os.WNOHANG)


def test_no_fork_for_a_small_job_or_beside_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    items = list(range(1, 11))
    expected = [tagged(i) for i in items]

    assert list(split_map(tagged, items, [10] * 10)) == expected  # far below the threshold
    monkeypatch.setattr(forked, "MIN_PARALLEL_WEIGHT", 0)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert list(split_map(tagged, items, [10] * 10)) == expected
    finally:
        release.set()
        other.join()


def test_no_temporary_directory_means_no_fork(always_fork: list[int], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    items = list(range(1, 11))
    assert list(split_map(tagged, items, [1] * 10)) == [tagged(i) for i in items]
    assert always_fork == []


def test_no_fork_when_sigchld_is_ignored(always_fork: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Inherited SIG_IGN makes the kernel reap children at once: waiting for one would fail.
    monkeypatch.setattr(signal, "getsignal", lambda number: signal.SIG_IGN if number == signal.SIGCHLD else None)
    items = list(range(1, 11))
    assert list(split_map(tagged, items, [1] * 10)) == [tagged(i) for i in items]
    assert always_fork == []


def test_a_child_reaped_elsewhere_is_recomputed_by_the_parent(always_fork: list[int],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real_waitpid = os.waitpid

    def reaped_elsewhere(pid: int, options: int) -> tuple[int, int]:
        real_waitpid(pid, options)
        raise ChildProcessError(10, "No child processes")

    monkeypatch.setattr(os, "waitpid", reaped_elsewhere)
    items = list(range(1, 21))
    assert list(split_map(tagged, items, [1] * 20)) == [
        None if i % 5 == 0 else f"{i}:{os.getpid()}".encode() for i in items]
