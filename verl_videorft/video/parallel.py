"""Decoding one clip with several readers side by side: how many, where to split, the thread pool.

A long clip is split at keyframes into stretches of about equal decode work; each stretch is
decoded by its own reader (decord and PyAV both release the GIL while decoding). A stretch starts
at a keyframe, and frames from a keyframe on do not depend on earlier ones, so the frames are
bit-identical to one reader's (tests/test_video_parallel.py).
"""

from __future__ import annotations

import bisect
import os
import threading
from concurrent.futures import ThreadPoolExecutor

MIN_SEGMENT_FRAMES = 32  # decode work below which another reader is not worth its open


def decode_workers() -> int:
    """Decoders one video may use at once: ``VIDEORFT_DECODE_WORKERS`` (>= 1), default the CPU
    cores this process may run on. Set 1 when many processes decode side by side (DataLoader
    workers): each then decodes with one reader, as before."""
    env = os.environ.get("VIDEORFT_DECODE_WORKERS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"VIDEORFT_DECODE_WORKERS must be an integer >= 1, got {env!r}")
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def split_at_keyframes(unique: list[int], keyframes: list[int], parts: int,
                       min_cost: int = MIN_SEGMENT_FRAMES) -> list[list[int]]:
    """Sorted frame indices → at most ``parts`` contiguous runs that start in different GOPs, with
    about equal decode work each (a run decodes from its first GOP's keyframe to its last index).

    A run's reader seeks to its first keyframe; frames from a keyframe on do not depend on earlier
    ones, so each run's frames are bit-identical to one reader's (tests/test_video_parallel.py),
    and the total decode work stays about the same. ``min_cost`` frames of work per run keeps a
    short clip on one reader (an extra reader costs a container open).

        >>> split_at_keyframes([0, 30, 60, 90, 270, 300], [0, 250], 2)
        [[0, 30, 60, 90], [270, 300]]
    """
    gops: dict[int, list[int]] = {}
    for i in unique:
        k = bisect.bisect_right(keyframes, i) - 1
        gops.setdefault(keyframes[k] if k >= 0 else 0, []).append(i)
    groups = [g for _, g in sorted(gops.items())]
    costs = [g[-1] - key + 1 for key, g in sorted(gops.items())]
    parts = max(1, min(parts, len(groups), sum(costs) // max(min_cost, 1)))
    if parts == 1:
        return [list(unique)]

    def runs(limit: int) -> list[list[int]]:
        out: list[list[int]] = [[]]
        load = 0
        for g, c in zip(groups, costs):
            if out[-1] and load + c > limit:
                out.append([])
                load = 0
            out[-1] += g
            load += c
        return out

    lo, hi = max(costs), sum(costs)  # smallest per-run limit that needs <= parts runs
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if len(runs(mid)) <= parts else (mid + 1, hi)
    return runs(lo)


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, size, pool)
_POOL_LOCK = threading.Lock()


def shared_pool(size: int) -> ThreadPoolExecutor:
    """A process-wide pool (threads do not survive fork: a forked worker makes its own); shared by
    all callers, so concurrent decodes queue instead of multiplying threads."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < size:
            if _POOL is not None and _POOL[0] == os.getpid():
                _POOL[2].shutdown(wait=False)  # a bigger one replaces it; queued work still runs
            _POOL = (os.getpid(), size, ThreadPoolExecutor(size, thread_name_prefix="videorft-decode"))
        return _POOL[2]
