"""Bounded decode-once cache for sampled frames (memory LRU by bytes + optional ``.npy`` disk tier).

The memory tier is a ``cachetools.LRUCache`` sized by the frames' bytes; the disk tier is an
:class:`NpyDiskStore`, the same store the semantic reward keeps its frame embeddings in.

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

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache

Entry = tuple[np.ndarray, dict[str, Any]]

MAX_ERRORS = 4096  # remembered failures (key -> exception), least recently seen dropped first
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB: ~170 train clips (16 × 448×252×3 ≈ 5.4 MB each) plus headroom


def file_key(path: str | Path, profile_key: str) -> str:
    """Cache key of a file under a profile: absolute path, mtime_ns, size and the profile key.

    Raises ``FileNotFoundError`` when the file is missing (callers turn it into a decode error).
    ``os.path.realpath``: the same file through two symlinks is one entry (and half the cost of
    ``Path.resolve``, which every cache hit pays).
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    return f"{real}|{st.st_mtime_ns}|{st.st_size}|{profile_key}"


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.setflags(write=False)
    return view


def copy_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A copy a caller may change: the readers' metadata holds scalars and flat lists / dicts of
    scalars, so one level of copying is a deep copy, at a fraction of ``copy.deepcopy``'s cost
    (paid on every cache hit)."""
    return {k: v.copy() if isinstance(v, (list, dict)) else v for k, v in meta.items()}


def freeze(arr: np.ndarray) -> np.ndarray:
    """Make the buffer itself read-only: numpy lets a view become writable again whenever the
    array owning the memory is writable, so freezing a view alone would not protect the cache."""
    arr = np.ascontiguousarray(arr)
    if not arr.flags.owndata:
        arr = arr.copy()
    arr.setflags(write=False)
    return arr


class NpyDiskStore:
    """A folder of arrays, one ``<sha256 of key>.npy`` per string key, written atomically.

    Used by the frame cache's disk tier (with a ``.json`` of metadata beside each array, written
    last: its presence marks a complete entry, and it holds the key, so a foreign file is a miss)
    and by the semantic reward's embedding cache (arrays only). Not size-bounded; delete the
    folder to reclaim it. Writers in several processes may race on one key: each writes its own
    temporary file and renames it into place, so a reader sees one whole file or none.

        >>> store = NpyDiskStore(tmp)                                  # doctest: +SKIP
        >>> store.save("k", np.arange(3)); store.load("k")[0]          # doctest: +SKIP
        array([0, 1, 2])
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """The ``.npy`` file of ``key``."""
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()}.npy"

    def load(self, key: str, *, with_meta: bool = False) -> tuple[np.ndarray, dict[str, Any] | None] | None:
        """``(array, metadata or None)``, or ``None`` when the key is not stored (or, with metadata,
        stored for another key). A truncated or foreign file raises ``OSError`` / ``ValueError``."""
        npy = self.path(key)
        meta = None
        try:
            if with_meta:
                meta = json.loads(npy.with_suffix(".json").read_text())
                if meta.pop("_key", None) != key:
                    return None
            return np.load(npy, allow_pickle=False), meta
        except FileNotFoundError:
            return None

    def save(self, key: str, array: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        """Write ``array`` (then ``meta``) for ``key``; raises ``OSError`` (nothing half-written stays)."""
        npy = self.path(key)
        tmp = npy.with_name(f".{npy.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a name
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, npy)
            if meta is not None:
                tmp.write_text(json.dumps({**meta, "_key": key}))
                os.replace(tmp, npy.with_suffix(".json"))
        finally:
            tmp.unlink(missing_ok=True)


class _BytesLRU(LRUCache):
    """``cachetools.LRUCache`` sized by the frames' bytes, counting evictions."""

    def __init__(self, max_bytes: int):
        super().__init__(maxsize=max_bytes, getsizeof=lambda entry: entry[0].nbytes)
        self.evictions = 0

    def popitem(self) -> tuple[str, Entry]:
        self.evictions += 1
        return super().popitem()


class FrameCache:
    """Thread-safe LRU of ``(frames, metadata)`` bounded by the frames' bytes.

    ``disk_dir``: also write each entry to an :class:`NpyDiskStore` there, so another process
    (another Ray worker, the next run) loads instead of decoding. The disk tier is not
    size-bounded; delete the folder to reclaim it.

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
        self._disk = NpyDiskStore(self.disk_dir) if self.disk_dir is not None else None
        self._lock = threading.Lock()
        self._entries = _BytesLRU(self.max_bytes)
        self._inflight: dict[str, threading.Event] = {}
        self._errors: LRUCache = LRUCache(maxsize=MAX_ERRORS)  # key -> exception
        self._stats = {"hits": 0, "misses": 0, "disk_hits": 0, "disk_writes": 0, "error_hits": 0}

    # -- public -------------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        """The cached entry (memory, then disk) or ``None``. Counts a hit when found."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
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
        entry = (freeze(frames), copy_meta(meta))
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
                raise
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
                event.set()

    def clear(self) -> None:
        """Drop all memory entries and remembered errors (the disk tier stays); reset the stats."""
        with self._lock:
            self._entries.clear()
            self._entries.evictions = 0
            self._errors.clear()
            self._stats = dict.fromkeys(self._stats, 0)

    def stats(self) -> dict[str, int]:
        """hits, misses, evictions, disk_hits, disk_writes, error_hits, bytes, entries, max_bytes."""
        with self._lock:
            return {**self._stats, "evictions": self._entries.evictions, "bytes": self._entries.currsize,
                    "entries": len(self._entries), "max_bytes": self.max_bytes}

    def __len__(self) -> int:
        return len(self._entries)

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _out(entry: Entry) -> Entry:
        frames, meta = entry
        return _readonly(frames), copy_meta(meta)

    def _insert(self, key: str, entry: Entry) -> None:  # lock held
        try:
            self._entries[key] = entry
        except ValueError:  # larger than the whole budget: never evict everything for one clip
            self._entries.pop(key, None)

    def _disk_load(self, key: str) -> Entry | None:
        if self._disk is None:
            return None
        try:
            loaded = self._disk.load(key, with_meta=True)
        except (OSError, ValueError):
            return None  # half-written by a crashed process: decode again
        return None if loaded is None else (freeze(loaded[0]), loaded[1])

    def _disk_save(self, key: str, entry: Entry) -> None:
        if self._disk is None:
            return
        try:
            self._disk.save(key, entry[0], entry[1])
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
