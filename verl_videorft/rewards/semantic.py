"""Semantic-consistency reward: does the reasoning text agree with the frames the policy saw?

Paper: ``R_sem = min(1, w * max(cos(t, mean_f v_f), 0))`` with ``w = 2``, ``t`` the encoder's
embedding of the ``<think>`` body minus its first sentence, ``v_f`` the frame embeddings (all
L2-normalised). ``aggregate="per_frame"`` is the released code's variant,
``mean_f min(1, w * max(cos(t, v_f), 0))``. The accuracy gate is applied by the caller (manager).

Cost model: each video's frame embeddings are computed once per process (and optionally kept on
disk): :mod:`verl_videorft.rewards.embedding_cache`. The texts of one call are encoded in one
batch (the manager sends one). A missing or undecodable video scores 0 and is counted, never raised.

    >>> scorer = SemanticScorer(SemanticConfig(encoder="/models/tiny-siglip"))  # doctest: +SKIP
    >>> scorer.score_group(["<think>Q. A red ball.</think><answer>A</answer>"],
    ...                    "/data/clip.mp4", "train").scores                   # doctest: +SKIP
    [0.37]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verl_videorft.config import AGGREGATES, SemanticConfig
from verl_videorft.rewards.embedding_cache import (
    EMBEDDING_CACHE_ENV,
    FrameEmbeddingCache,
    frame_profile,
    precompute_frame_embeddings,
)

# Re-exported: the data tools and the CLI name them through this module.
__all__ = ["EMBEDDING_CACHE_ENV", "GroupResult", "SemanticConfig", "SemanticScorer", "get_scorer",
           "precompute_frame_embeddings", "semantic_scores", "think_text"]

logger = logging.getLogger(__name__)


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


class SemanticScorer(FrameEmbeddingCache):
    """Scores groups of completions against the frame embeddings it caches (the encoder is
    process-wide)."""

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
                     frame_profile=frame_profile(config.frame_profile))
    with _SCORERS_LOCK:
        if config not in _SCORERS:
            _SCORERS[config] = SemanticScorer(config)
        return _SCORERS[config]
