"""vLLM 0.24.0's multimodal path for Qwen2.5-VL and Qwen3-VL, reproduced on CPU for contract tests.

vLLM cannot run here, so each step it takes between verl's ``generate`` call and the M-RoPE
positions is redone with the same HF processor and the same arithmetic, citing the vLLM 0.24.0
wheel (``pip download vllm==0.24.0 --no-deps``) file and line. Also verl's training-side path
(``AgentLoopWorker._agent_loop_postprocess``), called as verl calls it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch


# ---- verl's vLLM server (verl/workers/rollout/vllm_rollout/vllm_async_server.py generate) ----------
def verl_dedup(prompt_ids: list[int], processor) -> list[int]:
    """``qwen2_5_vl_dedup_image_tokens`` (verl/workers/rollout/utils.py:93): each pad run → one pad."""
    from verl.workers.rollout.utils import qwen2_5_vl_dedup_image_tokens

    return qwen2_5_vl_dedup_image_tokens(list(prompt_ids), processor)


def vllm_float(value: float, dtype: torch.dtype) -> float:
    """vllm/multimodal/processing/context.py:226-237 ``_postprocess_output``: every floating tensor
    the HF processor returns is cast to the model dtype before the model sees it."""
    return float(torch.tensor(float(value), dtype=torch.float32).to(dtype).item())


def vllm_mrope(tokens: list[int], items: list[tuple[int, int, int, int, float]]) -> np.ndarray:
    """M-RoPE positions of ``tokens`` with vision items ``(offset, t, llm_h, llm_w, t_factor)``.

    qwen2_5_vl.py:1311-1348 ``get_mrope_input_positions`` (and qwen3_vl.py:2583-2660, one item per
    frame, t = 1, t_factor 1): text before an item starts at the largest position so far + 1, the
    item's grid sits after that text, temporal index ``int(k · t_factor)``.
    """
    parts, st = [], 0
    for offset, t, h, w, t_factor in items:
        text_len = offset - st
        st_idx = parts[-1].max() + 1 if parts else 0
        parts.append(np.broadcast_to(np.arange(text_len), (3, text_len)) + st_idx)
        grid = np.indices((t, h, w))
        if t_factor != 1.0:
            grid[0] = (grid[0] * t_factor).astype(np.int64)
        parts.append(grid.reshape(3, -1) + text_len + st_idx)
        st = offset + t * h * w
    if st < len(tokens):
        st_idx = parts[-1].max() + 1 if parts else 0
        parts.append(np.broadcast_to(np.arange(len(tokens) - st), (3, len(tokens) - st)) + st_idx)
    return np.concatenate(parts, axis=1)


# ---- Qwen2.5-VL -------------------------------------------------------------------------------------
def vllm_qwen25(processor, config, prompt_ids: list[int], videos: list, mm_kwargs: dict,
                dtype: torch.dtype = torch.bfloat16) -> tuple[list[int], np.ndarray]:
    """What vLLM 0.24 makes of one Qwen2.5-VL request: ``(expanded prompt ids, positions)``.

    - parse.py:646-666: ``video_needs_metadata`` is False for Qwen2/2.5-VL, so each
      ``(frames, metadata)`` item keeps the frames only;
    - processing/processor.py:1214-1237 + qwen2_vl.py:1085-1093: a token prompt's media go to the HF
      processor with dummy text, one ``<|video_pad|>`` per video;
    - processing/context.py:244-270: every ``mm_processor_kwargs`` key reaches the HF processor call
      (``allow_var_kwargs=True``); floats come back in the model dtype (``vllm_float``);
    - qwen2_5_vl.py:1181-1234: each (deduplicated) ``<|video_pad|>`` becomes grid.prod() / merge² pads;
    - qwen2_5_vl.py:1273-1309: ``t_factor = second_per_grid_ts · tokens_per_second``.
    """
    frames = [v for v, _ in videos]
    out = processor(text=processor.video_token * len(frames), videos=frames, **mm_kwargs, return_tensors="pt")
    merge = config.vision_config.spatial_merge_size
    tps = getattr(config.vision_config, "tokens_per_second", 1.0)
    pad = processor.video_token_id
    expanded, items, k = [], [], 0
    for tok in verl_dedup(prompt_ids, processor):
        if tok != pad:
            expanded.append(tok)
            continue
        t, h, w = (int(x) for x in out["video_grid_thw"][k])
        seconds = vllm_float(out["second_per_grid_ts"][k], dtype) or 1.0  # `if ...get(...)` at :1296
        items.append((len(expanded), t, h // merge, w // merge, seconds * tps))
        expanded += [pad] * (t * h * w // merge ** 2)
        k += 1
    return expanded, vllm_mrope(expanded, items)


# ---- Qwen3-VL ---------------------------------------------------------------------------------------
def vllm_qwen3_chunks(processor, frames, meta: dict, mm_kwargs: dict) -> tuple[list[int], list[int]]:
    """qwen3_vl.py:1249-1405 ``_call_hf_processor`` for one video: ``(chunk tokens, grid_thw)``.

    The metadata is kept (qwen3_vl.py:884 ``video_needs_metadata=True``); timestamps come from its
    ``frames_indices`` / ``fps`` (:991-1054, ``do_sample_frames`` false unless the request sets it,
    :1291-1295); the HF processor gets
    ``videos=[[frames]], video_metadata=[[metadata]]``; the chunks are built by ``get_video_repl``
    (:1499-1549), each ``<t seconds>`` tokenised on its own.
    """
    from transformers.video_utils import VideoMetadata

    md = VideoMetadata(**{k: v for k, v in meta.items() if k != "do_sample_frames"})
    kwargs = dict(mm_kwargs)
    kwargs.setdefault("do_sample_frames", meta.get("do_sample_frames", False))  # qwen3_vl.py:1291-1295
    out = processor(text="<|vision_start|><|video_pad|><|vision_end|>", videos=[[frames]], video_metadata=[[md]],
                    **kwargs, return_tensors="pt")
    t, h, w = (int(x) for x in out["video_grid_thw"][0])
    idx = list(md.frames_indices)
    patch = processor.video_processor.temporal_patch_size
    if len(idx) % patch:
        idx += [idx[-1]] * (patch - len(idx) % patch)
    secs = [i / md.fps for i in idx]
    stamps = [(secs[i] + secs[i + patch - 1]) / 2 for i in range(0, len(secs), patch)]
    tok = processor.tokenizer
    start, end = tok.convert_tokens_to_ids("<|vision_start|>"), tok.convert_tokens_to_ids("<|vision_end|>")
    merge = processor.video_processor.merge_size
    chunks: list[int] = []
    for s in stamps:
        chunks += tok.encode(f"<{s:.1f} seconds>", add_special_tokens=False)
        chunks += [start] + [processor.video_token_id] * (h * w // merge ** 2) + [end]
    return chunks, [t, h, w]


def vllm_qwen3(processor, config, prompt_ids: list[int], videos: list, mm_kwargs: dict) -> tuple[list[int], np.ndarray]:
    """What vLLM 0.24 makes of one Qwen3-VL request: ``(expanded prompt ids, positions)``.

    qwen3_vl.py:1416-1497: the prompt update's target is the text ``<|vision_start|><|video_pad|>
    <|vision_end|>`` (matched as tokens); each such triple, in order, becomes the video's chunks.
    Positions: qwen3_vl.py:2498-2660, one item per frame located from its ``<|vision_start|>``.
    """
    verl_ids = verl_dedup(prompt_ids, processor)
    tok = processor.tokenizer
    start, end = tok.convert_tokens_to_ids("<|vision_start|>"), tok.convert_tokens_to_ids("<|vision_end|>")
    pad = processor.video_token_id
    per_video = [vllm_qwen3_chunks(processor, v, m, mm_kwargs) for v, m in videos]
    expanded, i, k = [], 0, 0
    while i < len(verl_ids):
        if k < len(per_video) and verl_ids[i:i + 3] == [start, pad, end]:
            expanded += per_video[k][0]
            i, k = i + 3, k + 1
        else:
            expanded.append(verl_ids[i])
            i += 1
    merge = config.vision_config.spatial_merge_size
    items, offset = [], 0
    for _, (t, h, w) in per_video:
        for _ in range(t):
            offset = expanded.index(start, offset)
            offset = expanded.index(pad, offset)
            items.append((offset, 1, h // merge, w // merge, 1.0))
            offset += (h // merge) * (w // merge)
    return expanded, vllm_mrope(expanded, items)


# ---- verl's training forward -----------------------------------------------------------------------
def training_positions(processor, tokenizer, prompt_ids: list[int], response_ids: list[int],
                       multi_modal_data: dict, mm_processor_kwargs: dict) -> tuple[np.ndarray, dict]:
    """``(positions [3, n] of the unpadded tokens, multi_modal_inputs)`` as verl computes them.

    Runs verl's own ``AgentLoopWorker._agent_loop_postprocess`` (experimental/agent_loop/agent_loop.py
    ~696-878): padding, ``_compute_multi_modal_inputs``, ``_compute_position_ids``.
    """
    import asyncio

    from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, AgentLoopWorker

    worker = object.__new__(AgentLoopWorker)
    worker.processor, worker.tokenizer, worker.mm_processor_kwargs = processor, tokenizer, {}
    worker.rollout_config = SimpleNamespace(prompt_length=len(prompt_ids) + 3,
                                            response_length=len(response_ids) + 2)
    worker.reward_loop_worker_handles, worker.distillation_enabled = None, False
    out = AgentLoopOutput(prompt_ids=prompt_ids, response_ids=response_ids, response_mask=[1] * len(response_ids),
                          multi_modal_data=multi_modal_data, mm_processor_kwargs=mm_processor_kwargs,
                          num_turns=2, metrics={})
    internal = asyncio.run(worker._agent_loop_postprocess(out, validate=False, raw_prompt=[]))
    mask = internal.attention_mask[0].bool()
    return internal.position_ids[0, 1:, mask].numpy(), internal.multi_modal_inputs
