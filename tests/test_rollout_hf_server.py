"""The HF rollout server: sampling, log-probs against a teacher-forced forward, vision inputs, weight sync."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("verl")


def _video(clip, nframes=4, side=56):
    """(frames [T,3,H,W] uint8, metadata) in the shape verl's agent loop hands to servers."""
    import decord

    vr = decord.VideoReader(str(clip), width=side, height=side)
    idx = np.linspace(0, len(vr) - 1, nframes).round().astype(int).tolist()
    frames = torch.from_numpy(vr.get_batch(idx).asnumpy()).permute(0, 3, 1, 2).contiguous()
    meta = {"fps": float(vr.get_avg_fps()), "frames_indices": idx, "total_num_frames": len(vr),
            "video_backend": "decord"}
    return frames, meta


@pytest.fixture(scope="module")
def server(tiny_qwen):
    from transformers import AutoProcessor, AutoTokenizer

    from verl_videorft.rollout.hf_server import HFRolloutServer

    model_config = SimpleNamespace(path=str(tiny_qwen), local_path=str(tiny_qwen),
                                   tokenizer=AutoTokenizer.from_pretrained(tiny_qwen),
                                   processor=AutoProcessor.from_pretrained(tiny_qwen))
    cfg = SimpleNamespace(prompt_length=512, response_length=12)
    return HFRolloutServer(cfg, model_config, replica_rank=0)


def _prompt(server, clip):
    from verl.utils.tokenizer.tokenizer import build_multimodal_processor_inputs

    video = _video(clip)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "How many shapes?"}]}]
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = build_multimodal_processor_inputs(server.processor, text=[text], videos=[video])
    return inputs["input_ids"][0].tolist(), video, inputs


def _teacher_forced_logprobs(model, prompt_ids, response, inputs, temperature):
    ids = torch.tensor([prompt_ids + response])
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    if "mm_token_type_ids" in extra:  # M-RoPE needs the vision-token types of the whole sequence
        video_pad = model.config.video_token_id
        extra["mm_token_type_ids"] = (ids == video_pad).long() * 2
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0].float()
    lp = torch.log_softmax(logits / temperature, -1)
    pos = torch.arange(len(prompt_ids) - 1, len(prompt_ids) + len(response) - 1)
    return lp[pos, torch.tensor(response)]


def _generate(server, prompt_ids, video, **params):
    import asyncio

    sp = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True, **params}
    return asyncio.run(server.generate(prompt_ids=prompt_ids, sampling_params=sp, request_id="t",
                                       video_data=[video]))


def test_generate_returns_tokens_and_logprobs_matching_a_full_forward(server, clip):
    prompt_ids, video, inputs = _prompt(server, clip)
    video_pad = server.processor.video_token_id
    assert prompt_ids.count(video_pad) > 1  # pads are expanded: the server must re-create the features
    out = _generate(server, prompt_ids, video, temperature=0.7)
    assert 1 <= len(out.token_ids) <= 12
    assert out.log_probs is not None and len(out.log_probs) == len(out.token_ids)
    ref = _teacher_forced_logprobs(server.model, prompt_ids, out.token_ids, inputs, 0.7)
    torch.testing.assert_close(torch.tensor(out.log_probs), ref, atol=2e-4, rtol=1e-4)


def test_greedy_is_deterministic_and_logprobs_off_when_not_asked(server, clip):
    prompt_ids, video, _ = _prompt(server, clip)
    a = _generate(server, prompt_ids, video, temperature=0.0, logprobs=False)
    b = _generate(server, prompt_ids, video, temperature=0.0, logprobs=False)
    assert a.token_ids == b.token_ids
    assert a.log_probs is None


def test_prompt_that_does_not_match_the_frames_is_refused(server, clip):
    prompt_ids, video, _ = _prompt(server, clip)
    pad = server.processor.video_token_id
    broken = prompt_ids[: prompt_ids.index(pad)] + prompt_ids[prompt_ids.index(pad) + 1:]  # one pad fewer
    with pytest.raises(ValueError, match="vision settings differ"):
        _generate(server, broken, video)
