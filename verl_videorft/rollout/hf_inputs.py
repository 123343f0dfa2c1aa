"""Vision inputs of an hf rollout request, rebuilt from its frames exactly as the other paths see them.

Used by :class:`~verl_videorft.rollout.hf_server.HFRolloutServer`: the request's prompt ids (verl's
expanded pads for Qwen2.5-VL; one span per video for Qwen3-VL, expanded here as vLLM 0.24 does), the
frames' features from verl's ``build_multimodal_processor_inputs`` with the training forward's
``mm_processor_kwargs``, and M-RoPE token types from *these* ids.
"""

from __future__ import annotations

from typing import Any

import torch

from verl_videorft.rollout import time_axis, video_spans


def rebuild_vision_inputs(processor: Any, tokenizer: Any, config: Any, prompt_ids: list[int], images: list | None,
                          videos: list | None, mm_kwargs: dict[str, Any]) -> tuple[list[int], dict]:
    """``(prompt ids to generate from, vision inputs)`` rebuilt from the request's frames.

    Expanded pads (Qwen2.5-VL, as verl's builder makes them) are checked against the frames;
    Qwen3-VL arrives as one ``<|vision_start|><|video_pad|><|vision_end|>`` span per video and is
    expanded here exactly as vLLM 0.24 expands it (:func:`~.video_spans.expand_spans`).
    """
    if not images and not videos:
        return prompt_ids, {}
    from verl.utils.tokenizer.tokenizer import build_multimodal_processor_inputs
    from verl.workers.rollout.utils import qwen2_5_vl_dedup_image_tokens

    # One pad per vision item, re-expanded by the processor (as verl's vLLM server and training do).
    collapsed = qwen2_5_vl_dedup_image_tokens(prompt_ids, processor)
    text = tokenizer.decode(collapsed, skip_special_tokens=False)
    # The tuple's metadata is the one to use; the request's copy is there for vLLM (time_axis).
    kwargs = {k: v for k, v in mm_kwargs.items() if k != "video_metadata"}
    out = build_multimodal_processor_inputs(processor, text=[text], images=images, videos=videos,
                                            mm_processor_kwargs=kwargs)
    if videos and time_axis.model_type_of(config) in time_axis.QWEN3_MODEL_TYPES:
        start, pad, end = video_spans.span_ids(processor)
        chunks = video_spans.all_video_chunks(processor, videos, out["video_grid_thw"])
        prompt_ids = video_spans.expand_spans(prompt_ids, chunks, start=start, pad=pad, end=end)
    # Only the vision features are used; the prompt ids stay the agent loop's. Their pad counts
    # must agree or the model would mis-place the features.
    pad_ids = {config.image_token_id, config.video_token_id}
    want = sum(1 for t in prompt_ids if t in pad_ids)
    got = sum(1 for t in out["input_ids"][0].tolist() if t in pad_ids)
    if want != got:
        raise ValueError(
            f"hf rollout: the prompt has {want} vision pad tokens, the frames give {got}: "
            f"vision settings differ between the agent loop and the processor")
    vision = {k: v for k, v in out.items() if k not in ("input_ids", "attention_mask")}
    if "mm_token_type_ids" in vision:
        # Re-tokenising decoded text need not give the same ids; M-RoPE must follow *these* ids
        # (verl's training path derives the types from input_ids the same way).
        types = time_axis.vision_types(torch.tensor([prompt_ids]), config)
        vision["mm_token_type_ids"] = types.to(vision["mm_token_type_ids"].dtype)
    return prompt_ids, vision


__all__ = ["rebuild_vision_inputs"]
