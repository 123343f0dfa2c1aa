"""One time axis for Qwen2.5-VL video: the rollout and the training forward place frames alike.

The facts (verl 0.9.1, vLLM 0.24.0 as ``verl[vllm]`` pins it, transformers 5.10):

- vLLM 0.24's Qwen2/2.5-VL data parser drops the ``(frames, metadata)`` tuple's metadata
  (``vllm/multimodal/parse.py`` ~646-666, ``video_needs_metadata`` is False for Qwen2.5-VL), so the
  HF processor inside vLLM assumes 24 fps (``transformers/video_utils.py`` ``sampled_fps``) and
  ``second_per_grid_ts`` = 2/24. Keyword arguments do survive: vLLM hands every
  ``mm_processor_kwargs`` key to the HF processor call (``processing/context.py``
  ``call_hf_processor``, ``allow_var_kwargs=True``), so ``video_metadata`` sent there reaches it.
- vLLM casts every float the processor returns to the model dtype (``context.py``
  ``_postprocess_output``): ``second_per_grid_ts`` is bf16 inside vLLM.
- vLLM's M-RoPE (``qwen2_5_vl.py`` ``get_mrope_input_positions`` ~1311-1348, the original
  Qwen2.5-VL rule): temporal index ``int(k · s · tokens_per_second)`` for frame group ``k``, and
  the text after a vision item resumes at the largest position so far + 1.
- transformers 5.10's ``Qwen2_5_VLModel.get_rope_index`` (what verl binds to the processor for the
  training forward, and what HF ``generate`` uses) truncates ``s`` with ``int()`` first (~1056), and
  resumes the text at ``start + max(h, w)`` even when the temporal extent is larger. verl's
  ``_compute_position_ids`` passes no ``second_per_grid_ts`` at all unless the processor has a
  ``get_rope_index_kwargs`` hook (``s`` = 1 then).

The decision: **vLLM's rule is the time axis**, everywhere. The plugin (1) sends vLLM the frames'
timing as ``mm_processor_kwargs["video_metadata"]``; (2) rounds ``s`` to 8 significant bits so it
is the same number in bf16, fp16 and fp32 (``s = 1.0``, the released training's value, is exact);
(3) installs :class:`MRopeIndex` (vLLM's rule) as the processor's ``get_rope_index`` plus the
``get_rope_index_kwargs`` hook for verl's training forward, and as the model's ``get_rope_index``
in the HF rollout server and the HF eval backend. ``tests/test_time_axis.py`` proves the four agree.

    >>> grid_seconds(1.0), grid_seconds(2 / 24), grid_seconds(7.5)
    (1.0, 0.08349609375, 7.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

QWEN25_MODEL_TYPES = ("qwen2_5_vl",)
QWEN3_MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")
TEMPORAL_PATCH = 2  # Qwen-VL groups 2 frames per temporal patch


def model_type_of(obj: Any) -> str | None:
    """``model_type`` of a model, a config, or a processor verl built (``processor.config``)."""
    cfg = getattr(obj, "config", obj)
    kind = getattr(cfg, "model_type", None)
    if kind is None and type(obj).__name__.endswith("Processor"):
        kind = {"Qwen2_5_VLProcessor": "qwen2_5_vl", "Qwen3VLProcessor": "qwen3_vl"}.get(type(obj).__name__)
    return kind


def grid_seconds(seconds: float) -> float:
    """``seconds`` rounded to 8 significant bits: representable exactly in bf16, fp16 and fp32.

    vLLM carries ``second_per_grid_ts`` in the model dtype (bf16 for Qwen2.5-VL-7B); a value
    already on this grid survives that cast unchanged, so every path multiplies the same number.
    """
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError(f"second_per_grid_ts must be positive and finite, got {seconds}")
    mantissa, exponent = math.frexp(seconds)
    return math.ldexp(round(mantissa * 256) / 256, exponent)


def qwen25_metadata(meta: dict[str, Any] | None, num_frames: int) -> dict[str, Any]:
    """Processor metadata for already-sampled frames whose ``second_per_grid_ts`` is on the grid.

    The HF processor computes ``s = 2 / sampled_fps`` with ``sampled_fps = len(frames_indices) /
    total_num_frames · fps``; this keeps the sampled fps of ``meta`` (2 fps, ``s = 1.0``, when it
    has none) and snaps ``s`` with :func:`grid_seconds`.

    >>> qwen25_metadata({"total_num_frames": 300, "fps": 30.0, "frames_indices": list(range(0, 300, 20))}, 15)["fps"]
    1.4970760233918128
    """
    meta = dict(meta or {})
    total, fps, idx = meta.get("total_num_frames"), meta.get("fps"), meta.get("frames_indices")
    sampled = len(idx) / total * fps if total and fps and idx is not None else (fps or 2.0)
    seconds = grid_seconds(TEMPORAL_PATCH / sampled)
    return {"total_num_frames": num_frames, "fps": TEMPORAL_PATCH / seconds,
            "frames_indices": list(range(num_frames)), "video_backend": meta.get("video_backend")}


def vision_types(input_ids: torch.Tensor, config: Any) -> torch.Tensor:
    """0 text, 1 image, 2 video per token, from the token ids (as verl derives them)."""
    types = torch.zeros_like(input_ids)
    types[input_ids == config.image_token_id] = 1
    types[input_ids == config.video_token_id] = 2
    return types


def _runs(types: list[int]) -> Iterator[tuple[int, int]]:
    """``(type, length)`` of each run of equal token types."""
    start = 0
    for i in range(1, len(types) + 1):
        if i == len(types) or types[i] != types[start]:
            yield types[start], i - start
            start = i


def sequence_positions(types: list[int], grids: dict[int, Iterator], seconds: Iterator,
                       merge: int, tokens_per_second: float) -> np.ndarray:
    """``(3, len(types))`` positions of one sequence by vLLM 0.24's Qwen2.5-VL rule (module doc)."""
    parts, top = [], -1
    for kind, length in _runs(types):
        if kind == 0:
            parts.append(np.broadcast_to(np.arange(length) + top + 1, (3, length)))
            top += length
            continue
        covered = 0
        while covered < length:  # a run may hold several items back to back
            t, h, w = (int(x) for x in next(grids[kind]))
            grid = np.indices((t, h // merge, w // merge)).reshape(3, -1)
            if kind == 2:
                factor = float(grid_seconds(float(next(seconds)))) * tokens_per_second
                if factor != 1.0:
                    grid[0] = (grid[0] * factor).astype(np.int64)
            parts.append(grid + top + 1)
            top = int(parts[-1].max())
            covered += grid.shape[1]
    return np.concatenate(parts, axis=1) if parts else np.zeros((3, 0), dtype=np.int64)


class MRopeIndex:
    """vLLM 0.24's Qwen2.5-VL M-RoPE with transformers' ``get_rope_index`` signature.

    Bound as ``processor.get_rope_index`` (verl's training forward) and ``model.get_rope_index``
    (HF ``generate``); returns ``(positions [3, B, L], deltas [B, 1])`` like transformers.
    """

    def __init__(self, config: Any):
        self.config = config
        vision = config.vision_config
        self.merge = int(vision.spatial_merge_size)
        self.tokens_per_second = float(getattr(vision, "tokens_per_second", 1.0))

    def __call__(self, input_ids: torch.Tensor, mm_token_type_ids: torch.Tensor | None = None,
                 image_grid_thw: torch.Tensor | None = None, video_grid_thw: torch.Tensor | None = None,
                 second_per_grid_ts: Any = None, attention_mask: torch.Tensor | None = None,
                 **_: Any) -> tuple[torch.Tensor, torch.Tensor]:
        types_all = mm_token_type_ids if mm_token_type_ids is not None else vision_types(input_ids, self.config)
        grids = {1: iter(image_grid_thw if image_grid_thw is not None else []),
                 2: iter(video_grid_thw if video_grid_thw is not None else [])}
        if second_per_grid_ts is None:  # what verl passes without the hook, and vLLM's default
            second_per_grid_ts = [1.0] * (len(video_grid_thw) if video_grid_thw is not None else 0)
        seconds = iter(second_per_grid_ts)
        batch, length = input_ids.shape
        out = torch.zeros(3, batch, length, dtype=input_ids.dtype, device=input_ids.device)
        deltas = []
        for b in range(batch):
            keep = attention_mask[b].bool() if attention_mask is not None else torch.ones(length, dtype=torch.bool)
            pos = sequence_positions(types_all[b][keep].tolist(), grids, seconds, self.merge, self.tokens_per_second)
            out[:, b, keep.to(out.device)] = torch.as_tensor(pos, dtype=out.dtype, device=out.device)
            deltas.append(int(pos.max()) + 1 - pos.shape[1] if pos.size else 0)
        return out, torch.tensor(deltas, device=input_ids.device).unsqueeze(1)


def rope_index_kwargs(multi_modal_inputs: dict[str, Any]) -> dict[str, Any]:
    """verl's ``get_rope_index_kwargs`` hook: the processor's ``second_per_grid_ts`` for the rule."""
    seconds = multi_modal_inputs.get("second_per_grid_ts")
    return {} if seconds is None else {"second_per_grid_ts": seconds}


def install_on_processor(processor: Any) -> bool:
    """Make verl's training forward use the time axis (idempotent); ``True`` for Qwen2.5-VL.

    verl binds transformers' ``get_rope_index`` to the processor (``hf_processor``) and calls it
    from ``AgentLoopWorker._compute_position_ids``, with extra kwargs from ``get_rope_index_kwargs``.
    """
    config = getattr(processor, "config", None)
    if processor is None or config is None or model_type_of(config) not in QWEN25_MODEL_TYPES:
        return False
    if not isinstance(getattr(processor, "get_rope_index", None), MRopeIndex):
        processor.get_rope_index = MRopeIndex(config)
        processor.get_rope_index_kwargs = rope_index_kwargs
    return True


def install_on_model(model: torch.nn.Module) -> bool:
    """Make HF ``generate`` / ``forward`` of a Qwen2.5-VL use the time axis; ``True`` when installed."""
    if model_type_of(model) not in QWEN25_MODEL_TYPES:
        return False
    inner = getattr(model, "model", model)
    if not isinstance(getattr(inner, "get_rope_index", None), MRopeIndex):
        inner.get_rope_index = MRopeIndex(model.config)
    return True


def server_mm_kwargs(base: dict[str, Any] | None, videos: list | None, model_type: str | None) -> dict[str, Any]:
    """``mm_processor_kwargs`` for a request: for Qwen2.5-VL, the videos' metadata rides along.

    vLLM 0.24 drops the tuple's metadata for Qwen2/2.5-VL but passes this key to the processor.
    Qwen3-VL keeps the tuple's metadata and gives it to the processor itself: adding the key there
    would pass it twice.
    """
    out = dict(base or {})
    if videos and model_type in QWEN25_MODEL_TYPES:
        out["video_metadata"] = [dict(meta) for _, meta in videos]
        out.setdefault("do_sample_frames", False)  # the frames are the sample: never re-sample by fps
    return out


__all__ = ["MRopeIndex", "grid_seconds", "qwen25_metadata", "install_on_processor", "install_on_model",
           "rope_index_kwargs", "server_mm_kwargs", "sequence_positions", "model_type_of", "vision_types",
           "QWEN25_MODEL_TYPES", "QWEN3_MODEL_TYPES"]
