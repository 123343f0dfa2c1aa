"""Semantic-consistency reward: does the reasoning text agree with the frames the policy saw?

Paper: ``R_sem = min(1, w * max(cos(t, mean_f v_f), 0))`` with ``w = 2``, ``t`` the encoder's
embedding of the ``<think>`` body minus its first sentence, ``v_f`` the frame embeddings (all
L2-normalised). ``aggregate="per_frame"`` is the released code's variant,
``mean_f min(1, w * max(cos(t, v_f), 0))``. The accuracy gate is applied by the caller (manager).

Cost model: frames come from :func:`verl_videorft.video.sample_frames` (same profile as the
rollout, its decode cache) and each video's frame embeddings are computed once per process and
kept in an LRU keyed by (file identity, frame profile, encoder); the texts of a group are encoded in
one batch. A missing or undecodable video scores 0 and is counted, never raised.

    >>> scorer = SemanticScorer(SemanticConfig(encoder="/models/tiny-siglip"))  # doctest: +SKIP
    >>> scorer.score_group(["<think>Q. A red ball.</think><answer>A</answer>"],
    ...                    "/data/clip.mp4", "train").scores                   # doctest: +SKIP
    [0.37]
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

from verl_videorft.rewards.encoders import DEFAULT_ENCODER, get_encoder

logger = logging.getLogger(__name__)

AGGREGATES = ("mean", "per_frame")


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


@dataclass(frozen=True)
class SemanticConfig:
    """Settings of the semantic reward (the recipe's ``reward.semantic`` block).

    ``frame_profile`` is used when a sample carries none in ``extra_info``; it must be the rollout's
    (the dataset writes the rollout profile into every sample, so the default rarely applies).
    """

    encoder: str = DEFAULT_ENCODER
    backend: str = "auto"  # "hf" (SigLIP/CLIP via transformers) | "sentence-transformers" | "auto"
    device: str = "auto"  # cuda if the scoring process sees a GPU (the Ray actor), else cpu
    weight: float = 2.0
    aggregate: str = "mean"  # "mean" (paper) | "per_frame" (released code)
    frame_profile: Any = "train"
    embedding_cache_size: int = 4096  # videos; ~74 KB each for 16 frames of so400m (1152-d)

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"reward.semantic.aggregate must be one of {AGGREGATES}, "
                             f"got {self.aggregate!r}")


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
        self.counters: Counter[str] = Counter()

    @property
    def encoder(self):
        c = self.config
        return get_encoder(c.encoder, c.backend, c.device)

    def frame_embeddings(self, media_path: str, profile: Any = None) -> np.ndarray:
        """``[T, D]`` normalised embeddings of the profile's frames; computed once per key."""
        from verl_videorft.frame_cache import file_key
        from verl_videorft.video import sample_frames

        prof = _profile_of(profile if profile is not None else self.config.frame_profile)
        key = (file_key(media_path, prof.cache_key()), self.config.encoder, self.config.backend)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            self.counters["embedding_cache_hits"] += 1
            return hit
        frames, _ = sample_frames(media_path, prof)
        emb = self.encoder.encode_images(frames)
        emb.setflags(write=False)
        with self._lock:
            self._cache[key] = emb
        self.counters["embedding_cache_misses"] += 1
        return emb

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
    # A dict profile (from OmegaConf) is unhashable: key on the resolved, frozen FrameProfile.
    config = replace(config, frame_profile=_profile_of(config.frame_profile))
    with _SCORERS_LOCK:
        if config not in _SCORERS:
            _SCORERS[config] = SemanticScorer(config)
        return _SCORERS[config]
