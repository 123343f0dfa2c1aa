"""Frame embeddings of the semantic reward, computed once per video and kept in memory and on disk.

Frames come from :func:`verl_videorft.video.sample_frames` (same profile as the rollout, its
decode cache). Each video's frame embeddings are computed once per process and kept in an LRU
keyed by (file identity, frame profile, encoder); one encode per video is in flight at a time
(the ``n`` rollouts of a prompt ask for the same video at once).

Disk tier (optional): with ``embedding_cache_dir`` (or env ``VIDEORFT_EMBEDDING_CACHE_DIR``) each
video's embeddings are also written there as one ``<sha256 of the key>.npy`` (atomic rename) and
read back on an in-memory miss before encoding, so other processes and later runs skip the encoder.
:func:`precompute_frame_embeddings` (``videorft data precompute --semantic-model``) fills it ahead
of training.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.config import SemanticConfig
from verl_videorft.rewards.encoders import get_encoder, resolve_backend
from verl_videorft.video.cache import NpyDiskStore

logger = logging.getLogger(__name__)

EMBEDDING_CACHE_ENV = "VIDEORFT_EMBEDDING_CACHE_DIR"
# Bump when the meaning of a stored embedding changes (e.g. how frames reach the encoder).
DISK_FORMAT = "v1"

CacheKey = tuple[str, str, str]  # (file identity + profile key, encoder, backend)


def frame_profile(profile: Any):
    """The rollout's frame profile: a name, a FrameProfile, or a sample's dict (extra keys ignored)."""
    from dataclasses import fields as dc_fields

    from verl_videorft.video import FrameProfile, resolve_profile

    if isinstance(profile, Mapping):
        known = {f.name for f in dc_fields(FrameProfile)} | {"base"}
        profile = {k: v for k, v in dict(profile).items() if v is not None and k in known}
    return resolve_profile(profile)


class FrameEmbeddingCache:
    """Normalised frame embeddings per (video, profile, encoder): memory LRU, in-flight sharing and
    the optional disk tier. The encoder itself is process-wide (:func:`get_encoder`)."""

    def __init__(self, config: SemanticConfig | None = None):
        from cachetools import LRUCache

        self.config = config or SemanticConfig()
        self._cache: LRUCache = LRUCache(maxsize=self.config.embedding_cache_size)
        self._lock = threading.Lock()
        self._inflight: dict[CacheKey, concurrent.futures.Future] = {}
        self.counters: Counter[str] = Counter()
        disk = self.config.embedding_cache_dir or os.environ.get(EMBEDDING_CACHE_ENV) or None
        self.disk_dir: Path | None = Path(disk).expanduser().resolve() if disk else None
        self._disk = NpyDiskStore(self.disk_dir) if self.disk_dir is not None else None
        # A local encoder folder counts by its absolute path (a relative path in the precompute
        # CLI and an absolute one in the recipe are the same encoder); hub ids stay as written.
        enc = self.config.encoder
        self._encoder_id = str(Path(enc).resolve()) if os.path.isdir(enc) else enc
        self._backend_id = resolve_backend(enc, self.config.backend)

    @property
    def encoder(self):
        c = self.config
        return get_encoder(c.encoder, c.backend, c.device)

    def cache_key(self, media_path: str, profile: Any = None) -> CacheKey:
        """``(file identity + profile key, encoder, backend)``; raises ``OSError`` if missing."""
        from verl_videorft.video.cache import file_key

        prof = frame_profile(profile if profile is not None else self.config.frame_profile)
        return file_key(media_path, prof.cache_key()), self._encoder_id, self._backend_id

    @staticmethod
    def _disk_key(key: CacheKey) -> str:
        return json.dumps([DISK_FORMAT, *key])

    def disk_path(self, key: CacheKey) -> Path | None:
        """Where the disk tier keeps ``key`` (None without a disk tier)."""
        return self._disk.path(self._disk_key(key)) if self._disk is not None else None

    def cached(self, key: CacheKey) -> np.ndarray | None:
        """The embeddings of ``key`` from memory, else from disk (then kept in memory); or None."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            self.counters["embedding_cache_hits"] += 1
            return hit
        emb = self.load_from_disk(key)
        if emb is None:
            return None
        with self._lock:
            self._cache[key] = emb
        self.counters["embedding_disk_hits"] += 1
        return emb

    def frame_embeddings(self, media_path: str, profile: Any = None) -> np.ndarray:
        """``[T, D]`` normalised embeddings of the profile's frames; computed once per key."""
        prof = frame_profile(profile if profile is not None else self.config.frame_profile)
        key = self.cache_key(media_path, prof)
        hit = self.cached(key)
        if hit is not None:
            return hit
        # The first request for a key encodes; the others wait for its result.
        with self._lock:
            hit = self._cache.get(key)
            pending = self._inflight.get(key) if hit is None else None
            owner = hit is None and pending is None
            if owner:
                pending = self._inflight[key] = concurrent.futures.Future()
        if hit is not None:
            return hit
        if not owner:
            self.counters["embedding_inflight_waits"] += 1
            return pending.result()
        try:
            emb = self._encode(key, media_path, prof)
            pending.set_result(emb)
            return emb
        except BaseException as err:  # the waiters get the same error (a bad video is counted once)
            pending.set_exception(err)
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _encode(self, key: CacheKey, media_path: str, prof: Any) -> np.ndarray:
        from verl_videorft.video import sample_frames

        frames, _ = sample_frames(media_path, prof)
        emb = np.ascontiguousarray(self.encoder.encode_images(frames), dtype=np.float32)
        emb.setflags(write=False)
        self._disk_save(key, emb)
        with self._lock:
            self._cache[key] = emb
        self.counters["embedding_cache_misses"] += 1
        return emb

    def load_from_disk(self, key: CacheKey) -> np.ndarray | None:
        """The disk tier's embeddings of ``key``; None when absent, unreadable or malformed (counted
        as ``embedding_disk_errors``: the caller encodes again and overwrites the file)."""
        if self._disk is None:
            return None
        try:
            loaded = self._disk.load(self._disk_key(key))
        except (OSError, ValueError) as err:  # truncated/foreign file
            self.counters["embedding_disk_errors"] += 1
            logger.warning("semantic reward: unreadable embedding cache file %s (%s); re-encoding",
                           self.disk_path(key), err)
            return None
        if loaded is None:
            return None
        emb = loaded[0]
        if emb.ndim != 2 or emb.dtype != np.float32 or not np.isfinite(emb).all():
            self.counters["embedding_disk_errors"] += 1
            return None
        emb.setflags(write=False)
        return emb

    def _disk_save(self, key: CacheKey, emb: np.ndarray) -> None:
        if self._disk is None:
            return
        try:
            self._disk.save(self._disk_key(key), emb)  # atomic: readers see a whole file or none
        except OSError as err:  # a full or read-only disk must not stop training
            self.counters["embedding_disk_errors"] += 1
            logger.warning("semantic reward: cannot write %s (%s)", self.disk_path(key), err)
            return
        self.counters["embedding_disk_writes"] += 1


def precompute_frame_embeddings(paths: Iterable[str], config: SemanticConfig, profile: Any,
                                *, on_error: Callable[[str, str], None] | None = None
                                ) -> dict[str, int]:
    """Fill the on-disk frame-embedding cache for ``paths``: ``{"encoded", "cached", "failed"}``.

    ``profile`` must be the rollout's frame profile (name, dict or ``FrameProfile``) so the keys
    match training's. Videos already on disk are counted as ``cached`` (the encoder is loaded only
    if something needs encoding). A missing or undecodable video is counted as ``failed``, logged
    and passed to ``on_error(path, reason)``, never raised. Needs ``config.embedding_cache_dir``
    or env ``VIDEORFT_EMBEDDING_CACHE_DIR``.

        >>> precompute_frame_embeddings(["/data/a.mp4", "/data/bad.mp4"],           # doctest: +SKIP
        ...     SemanticConfig(encoder="/models/siglip", embedding_cache_dir="/cache/emb"), "train")
        {'encoded': 1, 'cached': 0, 'failed': 1}
    """
    cache = FrameEmbeddingCache(config)
    if cache.disk_dir is None:
        raise ValueError("precompute_frame_embeddings needs SemanticConfig.embedding_cache_dir "
                         f"(or env {EMBEDDING_CACHE_ENV}): without it nothing outlives this process")
    prof = frame_profile(profile)
    counts = {"encoded": 0, "cached": 0, "failed": 0}
    for path in paths:
        try:
            key = cache.cache_key(str(path), prof)
            if cache.load_from_disk(key) is not None:  # loads it: a truncated file is re-encoded
                counts["cached"] += 1
                continue
            cache.frame_embeddings(str(path), prof)
            if not cache.disk_path(key).is_file():
                raise OSError(f"could not write {cache.disk_path(key)} (see the log)")
            counts["encoded"] += 1
        except Exception as err:  # one bad video is reported, the rest still get cached
            counts["failed"] += 1
            reason = f"{type(err).__name__}: {err}"
            logger.warning("semantic embeddings: %s: %s", path, reason)
            if on_error is not None:
                on_error(str(path), reason)
    return counts
