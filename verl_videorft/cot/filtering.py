"""The filter stage: a revised chain is kept only if its answer is right, it agrees with the
frames and its length is within limits (see :class:`~verl_videorft.cot.settings.FilterSettings`).

Scores come from the project's rewards: :func:`~verl_videorft.rewards.text.accuracy_reward`
(``regression_zero_fix`` on, so an exact regression answer scores exactly 1) and the semantic
reward's pieces (:func:`~verl_videorft.rewards.semantic.think_text`, the encoder, and
:func:`~verl_videorft.rewards.semantic.semantic_scores`), here on the frames the revise stage saw.
The checks run cheapest first; a sample is dropped for the first one it fails.

    >>> accuracy_ok(1.0, "numerical", FilterSettings()), accuracy_ok(0.6, "OCR", FilterSettings())
    (True, True)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from verl_videorft.cot.settings import CotSettings, FilterSettings
from verl_videorft.cot.stages import Item, base_row
from verl_videorft.rewards.text import AccuracyOptions, accuracy_reward

TEXT_TYPES = ("OCR", "free-form")
ACCURACY = AccuracyOptions(regression_zero_fix=True)


def accuracy_ok(acc: float, problem_type: str, fs: FilterSettings) -> bool:
    return acc >= (fs.min_text_accuracy if problem_type in TEXT_TYPES else 1.0)


class SemanticJudge:
    """The semantic reward of one chain against given frames (encoder loaded on first use)."""

    def __init__(self, fs: FilterSettings):
        from verl_videorft.config import SemanticConfig

        base = SemanticConfig()
        self.config = SemanticConfig(encoder=fs.semantic_encoder or base.encoder, device=fs.semantic_device)

    def score(self, chain: str, frames) -> float:
        import numpy as np

        from verl_videorft.rewards.encoders import get_encoder
        from verl_videorft.rewards.semantic import semantic_scores, think_text

        text = think_text(chain)
        if not text:
            return 0.0
        c = self.config
        encoder = get_encoder(c.encoder, c.backend, c.device)
        value = semantic_scores(encoder.encode_texts([text]), encoder.encode_images(np.asarray(frames)),
                                weight=c.weight, aggregate=c.aggregate)[0]
        return float(value) if np.isfinite(value) else 0.0


def cot_record(record: dict[str, Any], chain_row: dict[str, Any]) -> dict[str, Any]:
    """The kept SFT record: the input record with ``process`` = the revised ``<think>...</think>``."""
    from verl_videorft.cot.schema import parse_chain

    out = dict(record)
    out["process"] = parse_chain(chain_row["chain"]).process
    return out


def judge(item: Item, fs: FilterSettings, semantic: SemanticJudge) -> dict[str, Any]:
    """Scores and the first failed check (``None`` when kept) of one item."""
    from verl_videorft.cot.schema import parse_chain

    rec = item["record"]
    chain = item["rows"]["revise"]["chain"]
    out: dict[str, Any] = {"accuracy": None, "semantic": None, "think_words": None, "reason": None}
    acc = accuracy_reward(chain, str(rec.get("solution", "")), str(rec.get("problem_type", "")), options=ACCURACY)
    out["accuracy"] = round(acc, 4)
    if not accuracy_ok(acc, str(rec.get("problem_type", "")), fs):
        out["reason"] = "wrong_answer"
        return out
    words = len(parse_chain(chain).think.split())
    out["think_words"] = words
    if words < fs.min_think_words or words > fs.max_think_words:
        out["reason"] = "too_short" if words < fs.min_think_words else "too_long"
        return out
    if item.get("media_error"):
        out["reason"] = "media_error"
        return out
    sem = semantic.score(chain, item["frames"])
    out["semantic"] = round(sem, 4)
    if sem < fs.min_semantic:
        out["reason"] = "low_semantic"
    return out


def filter_stage(items: Sequence[Item], semantic: SemanticJudge, settings: CotSettings) -> list[dict]:
    """One filter row per item: ``kept`` (with the SFT ``record``) or ``dropped`` with its reason."""
    rows = []
    for item in items:
        t0 = time.perf_counter()
        row = base_row(item, "filter", "rewards")
        row.update(judge(item, settings.filter, semantic))
        if row["reason"] is None:
            row.update(status="kept", record=cot_record(item["record"], item["rows"]["revise"]))
        else:
            row["status"] = "dropped"
        row["seconds"] = round(row["seconds"] + time.perf_counter() - t0, 4)
        rows.append(row)
    return rows
