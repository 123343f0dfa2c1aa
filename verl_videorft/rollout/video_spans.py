"""Qwen3-VL video spans in the layout vLLM 0.24 builds, and frame sizes the model can take.

Qwen3-VL writes each video as one chunk per frame pair: ``<t seconds><|vision_start|><|video_pad|>×N
<|vision_end|>``. Two layouts exist:

- vLLM 0.24 replaces the chat template's ``<|vision_start|><|video_pad|><|vision_end|>`` with the
  chunks (``qwen3_vl.py`` ``_get_prompt_updates`` ~1416-1497, target is that triple; chunks from
  ``get_video_repl`` ~1499-1549, each timestamp tokenised on its own; timestamps from
  ``_calculate_timestamps`` ~991-1004). It expands only a prompt that holds the triple: verl sends
  the already-expanded ids with each pad run collapsed, so vLLM replaces the first chunk and leaves
  the other 7 as text (verl issue #5024).
- transformers 5.10's processor replaces only ``<|video_pad|>``, so the chunks sit *inside* an extra
  ``<|vision_start|>`` ... ``<|vision_end|>`` pair (``processing_qwen3_vl.py`` ``replace_video_token``).

The plugin uses vLLM's layout (the one Qwen3-VL was released with): :func:`to_vllm_layout` turns
the prompt verl's builder made into the ids the training forward uses and the ids sent to the
server, one triple per video; the server (vLLM, or :mod:`.hf_server` through
:func:`expand_spans`) expands each triple back into exactly those training ids.

    >>> to_vllm_layout([1, 7, 50, 7, 9, 8, 8, 2], [[50, 7, 9, 8]], start=7, pad=9, end=8)
    ([1, 50, 7, 9, 8, 2], [1, 7, 9, 8, 2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEMPORAL_PATCH = 2


class VideoLayoutError(ValueError):
    """The prompt's video tokens are not the layout the frames give (message names the cause)."""


def qwen3_timestamps(meta: dict[str, Any], temporal_patch: int = TEMPORAL_PATCH) -> list[float]:
    """Seconds of each frame pair: mean of its frames' ``index / fps`` (last index repeated to pair).

    >>> qwen3_timestamps({"fps": 10.0, "frames_indices": [0, 13, 26, 39]})
    [0.65, 3.25]
    """
    indices = [int(i) for i in meta["frames_indices"]]
    fps = float(meta.get("fps") or 24.0)  # what both processors assume without an fps
    if len(indices) % temporal_patch:
        indices += [indices[-1]] * (temporal_patch - len(indices) % temporal_patch)
    seconds = [i / fps for i in indices]
    return [(seconds[i] + seconds[i + temporal_patch - 1]) / 2 for i in range(0, len(seconds), temporal_patch)]


def span_ids(processor: Any) -> tuple[int, int, int]:
    """``(vision_start, video_pad, vision_end)`` token ids of a Qwen-VL processor."""
    tok = processor.tokenizer
    return (tok.convert_tokens_to_ids("<|vision_start|>"), processor.video_token_id,
            tok.convert_tokens_to_ids("<|vision_end|>"))


def video_chunks(processor: Any, meta: dict[str, Any], grid_thw: Sequence[int]) -> list[int]:
    """One video's tokens as vLLM 0.24 writes them (timestamps tokenised one at a time)."""
    start, pad, end = span_ids(processor)
    merge = int(processor.video_processor.merge_size)
    t, h, w = (int(x) for x in grid_thw)
    per_frame = h * w // (merge * merge)
    stamps = qwen3_timestamps(meta, int(processor.video_processor.temporal_patch_size))
    if len(stamps) != t:
        raise VideoLayoutError(f"{len(stamps)} timestamps for {t} frame pairs")
    out: list[int] = []
    for stamp in stamps:
        out += processor.tokenizer.encode(f"<{stamp:.1f} seconds>", add_special_tokens=False)
        out += [start] + [pad] * per_frame + [end]
    return out


def all_video_chunks(processor: Any, videos: Sequence, video_grid_thw: Any) -> list[list[int]]:
    """:func:`video_chunks` for each ``(frames, metadata)`` with its row of ``video_grid_thw``."""
    return [video_chunks(processor, meta, grid) for (_, meta), grid in zip(videos, video_grid_thw)]


def _find(seq: list[int], sub: list[int], start: int) -> int:
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i] == sub[0] and seq[i:i + len(sub)] == sub:
            return i
    return -1


def to_vllm_layout(prompt_ids: list[int], chunks: list[list[int]], *, start: int, pad: int,
                   end: int) -> tuple[list[int], list[int]]:
    """``(training_ids, server_ids)`` from a prompt whose videos are expanded (either layout).

    Each video's chunks are found in order; the wrapping ``start`` / ``end`` pair transformers 5.10
    adds around them is dropped (training ids), and the server gets one ``start pad end`` triple.
    Raises :class:`VideoLayoutError` when a video's chunks are not in the prompt.
    """
    train, server, cursor = [], [], 0
    for k, video in enumerate(chunks):
        at = _find(prompt_ids, video, cursor)
        if at < 0:
            raise VideoLayoutError(
                f"video {k}: its timestamped chunks are not in the prompt (tokeniser splits the "
                f"'<t seconds>' text differently); cannot send vLLM one span per video (verl #5024)")
        head, tail = at, at + len(video)
        wrapped = head > cursor and prompt_ids[head - 1] == start and tail < len(prompt_ids) \
            and prompt_ids[tail] == end
        text = prompt_ids[cursor:head - 1] if wrapped else prompt_ids[cursor:head]
        train += text + video
        server += text + [start, pad, end]
        cursor = tail + 1 if wrapped else tail
    return train + prompt_ids[cursor:], server + prompt_ids[cursor:]


def expand_spans(server_ids: list[int], chunks: list[list[int]], *, start: int, pad: int,
                 end: int) -> list[int]:
    """What vLLM 0.24 does to ``server_ids``: the k-th ``start pad end`` triple → video k's chunks."""
    out, i, k = [], 0, 0
    while i < len(server_ids):
        if k < len(chunks) and server_ids[i:i + 3] == [start, pad, end]:
            out += chunks[k]
            i, k = i + 3, k + 1
        else:
            out.append(server_ids[i])
            i += 1
    if k != len(chunks):
        raise VideoLayoutError(f"{k} video spans in the prompt for {len(chunks)} videos")
    return out


def required_multiple(processor: Any) -> int | None:
    """Side multiple the model's vision tower needs for frames it must not resize (patch × merge)."""
    vp = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
    patch, merge = getattr(vp, "patch_size", None), getattr(vp, "merge_size", None)
    return int(patch) * int(merge) if patch and merge else None


def check_frame_multiple(processor: Any, profile: Any, where: str = "frame profile") -> None:
    """Refuse a profile whose frame sides the model cannot take without a resize.

    Frames reach the processor with ``do_resize=False``; a side that is not a multiple of patch ×
    merge (Qwen2.5-VL 14 × 2 = 28, Qwen3-VL 16 × 2 = 32) makes the processor fail mid-step.

    >>> from types import SimpleNamespace as NS
    >>> proc = NS(video_processor=NS(patch_size=16, merge_size=2))
    >>> check_frame_multiple(proc, NS(size_multiple=28), "profile 'train'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: profile 'train': size_multiple 28 is not a multiple of the model's patch 16 × merge 2 = 32; ...
    """
    need = required_multiple(processor)
    have = int(profile.size_multiple)
    if need and have % need:
        vp = getattr(processor, "video_processor", None) or processor.image_processor
        raise ValueError(f"{where}: size_multiple {have} is not a multiple of the model's patch "
                         f"{vp.patch_size} × merge {vp.merge_size} = {need}; set size_multiple: {need} "
                         f"(Qwen2.5-VL: 28, Qwen3-VL: 32)")


__all__ = ["VideoLayoutError", "qwen3_timestamps", "span_ids", "video_chunks", "all_video_chunks",
           "to_vllm_layout", "expand_spans", "required_multiple", "check_frame_multiple"]
