"""One stage on a batch of items: the pieces the local and the Ray Data runners share
(:mod:`verl_videorft.cot.runner`, :mod:`verl_videorft.cot.ray_runner`).

    >>> list(chunks([1, 2, 3, 4, 5], 2))
    [[1, 2], [3, 4], [5]]
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from verl_videorft.cot import stages as st
from verl_videorft.cot.filtering import SemanticJudge, filter_stage
from verl_videorft.cot.frames import FrameSource
from verl_videorft.cot.requests import Engine
from verl_videorft.cot.settings import CotSettings
from verl_videorft.video import VideoDecodeError


def chunks(seq: Sequence, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield list(seq[i:i + n])


def stage_rows(stage: str, batch: list[st.Item], worker: Engine | SemanticJudge, settings: CotSettings) -> list[dict]:
    """Rows of one stage for a batch; ``worker`` is the stage's engine (filter: the semantic judge)."""
    if stage == "filter":
        return filter_stage(batch, worker, settings)
    return {"describe": st.describe, "reason": st.reason, "revise": st.revise}[stage](batch, worker, settings)


def attach_frames(items: list[st.Item], source: FrameSource) -> None:
    """Give each item its frames (``frames``, ``meta``, ``decodes``, ``decode_s``) or ``media_error``.
    The profile a previous stage recorded is reused, so all stages share one cache entry."""
    for item in items:
        if "frames" in item or item.get("media_error"):
            continue
        given = ((item["rows"].get("describe") or {}).get("frames") or {}).get("profile")
        t0 = time.perf_counter()
        try:
            item["frames"], item["meta"], item["decodes"] = source.get(item["media"], given)
        except (VideoDecodeError, OSError) as err:
            item["media_error"] = str(err)
        item["decode_s"] = time.perf_counter() - t0
