"""Semantic-consistency reward: does the reasoning text agree with the frames the policy saw?

Paper: ``R_sem = min(1, w * max(cos(t, mean_f v_f), 0))`` with ``w = 2``, ``t`` the encoder's
embedding of the ``<think>`` body minus its first sentence, ``v_f`` the frame embeddings (all
L2-normalised). ``aggregate="per_frame"`` is the released code's variant,
``mean_f min(1, w * max(cos(t, v_f), 0))``. The accuracy gate is applied by the caller (manager).

Cost model: frames come from :func:`verl_videorft.video.sample_frames` (same profile as the
rollout, its decode cache) and each video's frame embeddings are computed once per process and
kept in an LRU keyed by (file identity, frame profile, encoder), one encode per video in flight;
the texts of one call are encoded in one batch (the manager sends one). A missing or undecodable
video scores 0 and is counted, never raised.

Disk tier (optional): with ``embedding_cache_dir`` (or env ``VIDEORFT_EMBEDDING_CACHE_DIR``) each
video's embeddings are also written there as one ``<sha256 of the key>.npy`` (atomic rename) and
read back on an in-memory miss before encoding, so other processes and later runs skip the encoder.
:func:`precompute_frame_embeddings` (``videorft data precompute --semantic-model``) fills it ahead
of training.

    >>> scorer = SemanticScorer(SemanticConfig(encoder="/models/tiny-siglip"))  # doctest: +SKIP
    >>> scorer.score_group(["<think>Q. A red ball.</think><answer>A</answer>"],
    ...                    "/data/clip.mp4", "train").scores                   # doctest: +SKIP
    [0.37]
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.config import AGGREGATES, SemanticConfig
from verl_videorft.rewards.encoders import get_encoder, resolve_backend
from verl_videorft.video.cache import NpyDiskStore

logger = logging.getLogger(__name__)

EMBEDDING_CACHE_ENV = "VIDEORFT_EMBEDDING_CACHE_DIR"
# Bump when the meaning of a stored embedding changes (e.g. how frames reach the encoder).
_DISK_FORMAT = "v1"


def think_text(completion: str) -> str:
    """The ``<think>`` body with everything up to and including its first '.' dropped.

    The first sentence usually restates the question (paper); the released code cuts at the
    first '.'. A body without '.' is kept whole; no closed ``<think>`` block gives "".

    >>> think_text("<think>The question asks X. A ball moves left. Then</think><answer>A</answer>")
    'A ball moves left. Then'
    >>> think_text("<answer>A</answer>")
    ''
    """
    if not isinstance(completion, str):
        return ""
    start = completion.find("<think>")
    if start < 0:
        return ""
    end = completion.find("</think>", start + len("<think>"))
    if end < 0:
        return ""
    body = completion[start + len("<think>"):end]
    dot = body.find(".")
    return (body[dot + 1:] if dot >= 0 else body).strip()


def semantic_scores(text_emb: np.ndarray, frame_emb: np.ndarray, *, weight: float = 2.0,
                    aggregate: str = "mean") -> np.ndarray:
    """Scores in [0, 1] for normalised text embeddings ``[N, D]`` against frame embeddings ``[T, D]``.

    >>> t = np.array([[1.0, 0.0], [0.0, 1.0]]); f = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> semantic_scores(t, f).round(3).tolist()            # cos with the normalised frame mean
    [1.0, 0.894]
    >>> semantic_scores(t, f, aggregate="per_frame").round(3).tolist()
    [1.0, 0.5]
    """
    if aggregate == "mean":
        mean = frame_emb.mean(axis=0)
        cos = text_emb @ (mean / max(float(np.linalg.norm(mean)), 1e-12))
        return np.minimum(1.0, weight * np.maximum(cos, 0.0))
    if aggregate == "per_frame":
        cos = text_emb @ frame_emb.T
        return np.minimum(1.0, weight * np.maximum(cos, 0.0)).mean(axis=1)
    raise ValueError(f"semantic aggregate must be one of {AGGREGATES}, got {aggregate!r}")


@dataclass
class GroupResult:
    """Scores for one group of completions on one video, and whether the media failed."""

    scores: list[float]
    media_error: str | None = None
    stats: dict[str, int] = field(default_factory=dict)


def _profile_of(profile: Any):
    """The rollout's frame profile: a name, a FrameProfile, or a sample's dict (extra keys ignored)."""
    from dataclasses import fields as dc_fields

    from verl_videorft.video import FrameProfile, resolve_profile

    if isinstance(profile, Mapping):
        known = {f.name for f in dc_fields(FrameProfile)} | {"base"}
        profile = {k: v for k, v in dict(profile).items() if v is not None and k in known}
    return resolve_profile(profile)


class SemanticScorer:
    """Scores groups of completions; owns the frame-embedding cache (the encoder is process-wide)."""

    def __init__(self, config: SemanticConfig | None = None):
        from cachetools import LRUCache

        self.config = config or SemanticConfig()
        self._cache: LRUCache = LRUCache(maxsize=self.config.embedding_cache_size)
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, str, str], concurrent.futures.Future] = {}
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

    def cache_key(self, media_path: str, profile: Any = None) -> tuple[str, str, str]:
        """``(file identity + profile key, encoder, backend)``; raises ``OSError`` if missing."""
        from verl_videorft.video.cache import file_key

        prof = _profile_of(profile if profile is not None else self.config.frame_profile)
        return file_key(media_path, prof.cache_key()), self._encoder_id, self._backend_id

    @staticmethod
    def _disk_key(key: tuple[str, str, str]) -> str:
        return json.dumps([_DISK_FORMAT, *key])

    def disk_path(self, key: tuple[str, str, str]) -> Path | None:
        """Where the disk tier keeps ``key`` (None without a disk tier)."""
        return self._disk.path(self._disk_key(key)) if self._disk is not None else None

    def cached(self, key: tuple[str, str, str]) -> np.ndarray | None:
        """The embeddings of ``key`` from memory, else from disk (then kept in memory); or None."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            self.counters["embedding_cache_hits"] += 1
            return hit
        emb = self._disk_load(key)
        if emb is None:
            return None
        with self._lock:
            self._cache[key] = emb
        self.counters["embedding_disk_hits"] += 1
        return emb

    def frame_embeddings(self, media_path: str, profile: Any = None) -> np.ndarray:
        """``[T, D]`` normalised embeddings of the profile's frames; computed once per key."""
        from verl_videorft.video import sample_frames

        prof = _profile_of(profile if profile is not None else self.config.frame_profile)
        key = self.cache_key(media_path, prof)
        hit = self.cached(key)
        if hit is not None:
            return hit
        # One encode per video in flight: the n rollouts of a prompt ask for the same video at
        # once; the first encodes, the others wait for its result.
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
            frames, _ = sample_frames(media_path, prof)
            emb = np.ascontiguousarray(self.encoder.encode_images(frames), dtype=np.float32)
            emb.setflags(write=False)
            self._disk_save(key, emb)
            with self._lock:
                self._cache[key] = emb
            self.counters["embedding_cache_misses"] += 1
            pending.set_result(emb)
            return emb
        except BaseException as err:  # the waiters get the same error (a bad video is counted once)
            pending.set_exception(err)
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _disk_load(self, key: tuple[str, str, str]) -> np.ndarray | None:
        if self._disk is None:
            return None
        try:
            loaded = self._disk.load(self._disk_key(key))
        except (OSError, ValueError) as err:  # truncated/foreign file: encode again, overwrite it
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

    def _disk_save(self, key: tuple[str, str, str], emb: np.ndarray) -> None:
        if self._disk is None:
            return
        try:
            self._disk.save(self._disk_key(key), emb)  # atomic: readers see a whole file or none
        except OSError as err:  # a full or read-only disk must not stop training
            self.counters["embedding_disk_errors"] += 1
            logger.warning("semantic reward: cannot write %s (%s)", self.disk_path(key), err)
            return
        self.counters["embedding_disk_writes"] += 1

    def score_group(self, completions: Sequence[str], media_path: str | None,
                    profile: Any = None) -> GroupResult:
        """Semantic reward of each completion against one video (or image); never raises on media.

        Completions with no think text (after dropping the first sentence) score 0.
        """
        return self.score_texts([think_text(c) for c in completions], media_path, profile)

    def score_texts(self, texts: Sequence[str], media_path: str | None,
                    profile: Any = None) -> GroupResult:
        """Like :meth:`score_group` for already-extracted think texts (what the manager sends)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        scores = [0.0] * len(texts)
        if not media_path:
            self.counters["media_missing"] += 1
            return GroupResult(scores, "no media path")
        try:
            frame_emb = self.frame_embeddings(str(media_path), profile)
        except Exception as err:  # missing/corrupt file: score 0, count, keep training
            self.counters["media_errors"] += 1
            logger.warning("semantic reward: %s: %s", media_path, err)
            return GroupResult(scores, f"{type(err).__name__}: {err}")
        idx = [i for i, t in enumerate(texts) if t]
        if idx:
            text_emb = self.encoder.encode_texts([texts[i] for i in idx])  # one batch per group
            values = semantic_scores(text_emb, frame_emb, weight=self.config.weight,
                                     aggregate=self.config.aggregate)
            for i, v in zip(idx, values):
                scores[i] = float(v) if np.isfinite(v) else 0.0
        return GroupResult(scores, None, dict(self.counters))


_SCORERS: dict[SemanticConfig, SemanticScorer] = {}
_SCORERS_LOCK = threading.Lock()


def get_scorer(config: SemanticConfig | None = None) -> SemanticScorer:
    """The process-wide scorer for a config (so its embedding cache lives for the whole run)."""
    from dataclasses import replace

    config = config or SemanticConfig()
    # Key on the scorer's own fields (not the reward block's switches) and on the resolved, frozen
    # FrameProfile (a dict profile from OmegaConf is unhashable).
    config = replace(SemanticConfig(**config.scorer_fields()),
                     frame_profile=_profile_of(config.frame_profile))
    with _SCORERS_LOCK:
        if config not in _SCORERS:
            _SCORERS[config] = SemanticScorer(config)
        return _SCORERS[config]


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
    scorer = SemanticScorer(config)
    if scorer.disk_dir is None:
        raise ValueError("precompute_frame_embeddings needs SemanticConfig.embedding_cache_dir "
                         f"(or env {EMBEDDING_CACHE_ENV}): without it nothing outlives this process")
    prof = _profile_of(profile)
    counts = {"encoded": 0, "cached": 0, "failed": 0}
    for path in paths:
        try:
            key = scorer.cache_key(str(path), prof)
            if scorer._disk_load(key) is not None:  # loads it: a truncated file is re-encoded
                counts["cached"] += 1
                continue
            scorer.frame_embeddings(str(path), prof)
            if not scorer.disk_path(key).is_file():
                raise OSError(f"could not write {scorer.disk_path(key)} (see the log)")
            counts["encoded"] += 1
        except Exception as err:  # one bad video is reported, the rest still get cached
            counts["failed"] += 1
            reason = f"{type(err).__name__}: {err}"
            logger.warning("semantic embeddings: %s: %s", path, reason)
            if on_error is not None:
                on_error(str(path), reason)
    return counts
