"""Bounded decode-once cache for sampled frames (memory LRU by bytes + optional ``.npy`` disk tier).

A GRPO group reads the same video ``n`` times (8 rollouts, then the semantic reward); decoding it
once saves most of the video time. Entries are keyed by the file's identity (absolute path, mtime,
size) plus the frame profile, so an edited file or another profile never returns stale frames.

    >>> cache = FrameCache(max_bytes=256 << 20)
    >>> frames, meta = cache.get_or_compute(key, lambda: decode())     # doctest: +SKIP
    >>> cache.stats()                                                  # doctest: +SKIP
    {'hits': 0, 'misses': 1, 'evictions': 0, 'bytes': 1204224, 'entries': 1, 'disk_hits': 0, ...}

Returned arrays are read-only (a caller cannot corrupt the cache); metadata dicts are copies.
Concurrent misses of one key decode once: the other threads wait for the first one's result.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Entry = tuple[np.ndarray, dict[str, Any]]

MAX_ERRORS = 4096  # remembered failures (key -> exception), oldest dropped first
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB: ~170 train clips (16 × 448×252×3 ≈ 5.4 MB each) plus headroom


def file_key(path: str | Path, profile_key: str) -> str:
    """Cache key of a file under a profile: absolute path, mtime_ns, size and the profile key.

    Raises ``FileNotFoundError`` when the file is missing (callers turn it into a decode error).
    """
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}|{st.st_mtime_ns}|{st.st_size}|{profile_key}"


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.setflags(write=False)
    return view


def freeze(arr: np.ndarray) -> np.ndarray:
    """Make the buffer itself read-only: numpy lets a view become writable again whenever the
    array owning the memory is writable, so freezing a view alone would not protect the cache."""
    arr = np.ascontiguousarray(arr)
    if not arr.flags.owndata:
        arr = arr.copy()
    arr.setflags(write=False)
    return arr


class FrameCache:
    """Thread-safe LRU of ``(frames, metadata)`` bounded by the frames' bytes.

    ``disk_dir``: also write each entry as ``<sha1>.npy`` + ``<sha1>.json`` there (atomic rename),
    so another process (another Ray worker, the next run) loads instead of decoding. The disk tier
    is not size-bounded; delete the folder to reclaim it.

        >>> c = FrameCache(max_bytes=10)
        >>> a = c.get_or_compute("k", lambda: (np.zeros(8, np.uint8), {"n": 1}))[0]
        >>> a.flags.writeable, c.stats()["misses"]
        (False, 1)
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, disk_dir: str | Path | None = None):
        if max_bytes < 0:
            raise ValueError(f"FrameCache max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.disk_dir = Path(disk_dir) if disk_dir else None
        if self.disk_dir is not None:
            self.disk_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._inflight: dict[str, threading.Event] = {}
        self._bytes = 0
        self._errors: OrderedDict[str, BaseException] = OrderedDict()
        self._stats = {"hits": 0, "misses": 0, "evictions": 0, "disk_hits": 0, "disk_writes": 0,
                       "error_hits": 0}

    # -- public -------------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        """The cached entry (memory, then disk) or ``None``. Counts a hit when found."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._stats["hits"] += 1
                return self._out(found)
        loaded = self._disk_load(key)
        if loaded is None:
            return None
        with self._lock:
            self._stats["hits"] += 1
            self._stats["disk_hits"] += 1
            self._insert(key, loaded)
        return self._out(loaded)

    def put(self, key: str, frames: np.ndarray, meta: dict[str, Any]) -> Entry:
        """Store an entry (memory, and disk when configured). Takes ownership of ``frames``
        (it becomes read-only)."""
        entry = (freeze(frames), copy.deepcopy(meta))
        self._disk_save(key, entry)
        with self._lock:
            self._insert(key, entry)
        return entry

    def get_or_compute(self, key: str, compute: Callable[[], Entry],
                       remember: tuple[type[BaseException], ...] = ()) -> Entry:
        """Cached entry for ``key``, or ``compute()`` once (concurrent callers wait for it).

        Exceptions of the ``remember`` types are kept too (up to ``MAX_ERRORS`` keys) and raised
        again at once, so a corrupt clip read by all 8 rollouts of a group fails fast 7 times.
        """
        while True:
            with self._lock:
                failed = self._errors.get(key)
                if failed is not None:
                    self._stats["error_hits"] += 1
            if failed is not None:
                raise failed.with_traceback(None)
            hit = self.get(key)
            if hit is not None:
                return hit
            with self._lock:
                done = self._entries.get(key)  # stored while we looked at the disk
                event = self._inflight.get(key)
                owner = done is None and event is None
                if owner:
                    event = self._inflight[key] = threading.Event()
            if done is not None:
                continue
            if not owner:
                event.wait()
                continue  # the owner stored it (or failed: then we try ourselves)
            try:
                with self._lock:
                    self._stats["misses"] += 1
                # stored, or only frozen when too big for the memory budget
                return self._out(self.put(key, *compute()))
            except remember as err:
                with self._lock:
                    self._errors[key] = err
                    while len(self._errors) > MAX_ERRORS:
                        self._errors.popitem(last=False)
                raise
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                event.set()

    def clear(self) -> None:
        """Drop all memory entries and remembered errors (the disk tier stays); reset the stats."""
        with self._lock:
            self._entries.clear()
            self._errors.clear()
            self._bytes = 0
            self._stats = dict.fromkeys(self._stats, 0)

    def stats(self) -> dict[str, int]:
        """hits, misses, evictions, disk_hits, disk_writes, error_hits, bytes, entries, max_bytes."""
        with self._lock:
            return {**self._stats, "bytes": self._bytes, "entries": len(self._entries),
                    "max_bytes": self.max_bytes}

    def __len__(self) -> int:
        return len(self._entries)

    # -- internals (call with the lock held where noted) ---------------------------------------
    @staticmethod
    def _out(entry: Entry) -> Entry:
        frames, meta = entry
        return _readonly(frames), copy.deepcopy(meta)

    def _insert(self, key: str, entry: Entry) -> None:  # lock held
        size = entry[0].nbytes
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[0].nbytes
        if size > self.max_bytes:
            return  # never evict everything for one oversized clip
        self._entries[key] = entry
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (frames, _) = self._entries.popitem(last=False)
            self._bytes -= frames.nbytes
            self._stats["evictions"] += 1

    def _disk_paths(self, key: str) -> tuple[Path, Path]:
        assert self.disk_dir is not None
        digest = hashlib.sha1(key.encode()).hexdigest()
        return self.disk_dir / f"{digest}.npy", self.disk_dir / f"{digest}.json"

    def _disk_load(self, key: str) -> Entry | None:
        if self.disk_dir is None:
            return None
        npy, meta_path = self._disk_paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            if meta.pop("_key", None) != key:
                return None  # sha1 collision or foreign file: treat as a miss
            frames = np.load(npy, mmap_mode="r")
        except (OSError, ValueError):
            return None  # absent or half-written by a crashed process: decode again
        # mmap keeps memory low but every read hits the page cache; copy so the LRU owns it
        return freeze(np.array(frames)), meta

    def _disk_save(self, key: str, entry: Entry) -> None:
        if self.disk_dir is None:
            return
        npy, meta_path = self._disk_paths(key)
        tmp = f".{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(str(npy) + tmp, "wb") as f:
                np.save(f, entry[0])
            os.replace(str(npy) + tmp, npy)
            # metadata last: its presence marks a complete entry
            Path(str(meta_path) + tmp).write_text(json.dumps({**entry[1], "_key": key}))
            os.replace(str(meta_path) + tmp, meta_path)
        except OSError:
            return  # a full or read-only disk must not stop training; memory tier still works
        with self._lock:
            self._stats["disk_writes"] += 1


_GLOBAL: FrameCache | None = None
_GLOBAL_LOCK = threading.Lock()


def get_frame_cache() -> FrameCache:
    """The process-wide cache (created on first use from ``VIDEORFT_FRAME_CACHE_BYTES`` /
    ``VIDEORFT_FRAME_CACHE_DIR`` if set, else 2 GiB in memory, no disk)."""
    global _GLOBAL
    with _GLOBAL_LOCK:
        if _GLOBAL is None:
            _GLOBAL = FrameCache(int(os.environ.get("VIDEORFT_FRAME_CACHE_BYTES", DEFAULT_MAX_BYTES)),
                                 os.environ.get("VIDEORFT_FRAME_CACHE_DIR") or None)
        return _GLOBAL


def configure_frame_cache(max_bytes: int = DEFAULT_MAX_BYTES,
                          disk_dir: str | Path | None = None) -> FrameCache:
    """Replace the process-wide cache (e.g. from config in each worker) and return it."""
    global _GLOBAL
    with _GLOBAL_LOCK:
        _GLOBAL = FrameCache(max_bytes, disk_dir)
        return _GLOBAL
