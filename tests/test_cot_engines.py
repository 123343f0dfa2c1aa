"""Engines: the vLLM request shape (against a stand-in ``vllm`` module: vLLM cannot run on CPU) and
the HF engine on text-only and video requests with the tiny Qwen2.5-VL."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from verl_videorft.cot.engines import Request
from verl_videorft.cot.settings import GenSettings
from verl_videorft.video import sample_frames


class FakeLLM:
    """Records what ``vllm.LLM`` gets. vLLM 0.24 ``LLM.generate(prompts, sampling_params, ...)`` takes
    a list of prompt dicts (``prompt``, ``multi_modal_data``, ``mm_processor_kwargs``) and either one
    ``SamplingParams`` or a list of the prompts' length (vllm/entrypoints/llm.py, ``generate``)."""

    calls: list = []

    def __init__(self, model, **kwargs):
        self.model, self.kwargs = model, kwargs

    def generate(self, prompts, params, use_tqdm=False):
        FakeLLM.calls.append((prompts, params))
        out = types.SimpleNamespace
        return [out(prompt_token_ids=[1] * 7, outputs=[out(text="<answer>A</answer>", token_ids=[5, 6])])
                for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM = FakeLLM
    mod.SamplingParams = lambda **kw: kw
    monkeypatch.setitem(sys.modules, "vllm", mod)
    FakeLLM.calls = []
    return mod


def test_vllm_engine_request_shape(fake_vllm, tiny_qwen, clip):
    from verl_videorft.cot.vllm_engine import VLLMEngine

    frames, meta = sample_frames(clip, {"nframes": 4, "min_pixels": 3136, "max_pixels": 3136}, cache=False)
    eng = VLLMEngine(str(tiny_qwen), max_model_len=4096)
    video = Request([{"role": "user", "content": "describe"}], GenSettings(temperature=0.0), frames, meta,
                    [0.0, 1.0, 2.0, 3.0])
    text = Request([{"role": "user", "content": "why"}], GenSettings(temperature=0.0), retry=True)
    replies = eng.generate([video, text])
    assert [(r.text, r.tokens_in, r.tokens_out) for r in replies] == [("<answer>A</answer>", 7, 2)] * 2
    assert eng.llm.kwargs["max_model_len"] == 4096 and eng.llm.kwargs["limit_mm_per_prompt"] == {"image": 1, "video": 1}
    (prompts, params), = FakeLLM.calls
    v, t = prompts
    assert v["prompt"].count("<|video_pad|>") == 1
    # no second resize or frame sampling inside vLLM's processor (placeholder count = features)
    assert v["mm_processor_kwargs"]["do_resize"] is False and v["mm_processor_kwargs"]["do_sample_frames"] is False
    (vframes, vmeta), = v["multi_modal_data"]["video"]
    assert np.array_equal(vframes, frames) and len(vmeta["frames_indices"]) == 4  # shape: the eval backend's
    assert t == {"prompt": t["prompt"]} and "<|video_pad|>" not in t["prompt"]
    assert params[0]["temperature"] == 0.0 and params[1]["temperature"] == 0.7  # a retry samples


@pytest.mark.slow
def test_hf_engine_runs_video_and_text_requests_in_one_batch(tiny_qwen, clip):
    from verl_videorft.cot.hf_engine import HFEngine

    frames, meta = sample_frames(clip, {"nframes": 4, "min_pixels": 3136, "max_pixels": 3136}, cache=False)
    eng = HFEngine(str(tiny_qwen), device="cpu")
    gen = GenSettings(max_new_tokens=6, temperature=0.0)
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "describe"}]
    video, text = Request(msgs, gen, frames, meta), Request(msgs, gen)
    v, t = eng.generate([video, text])
    assert v.error is None and t.error is None
    assert 1 <= v.tokens_out <= 6 and 1 <= t.tokens_out <= 6
    # the video request carries the frames' tokens: (T / 2) x (H / 14) x (W / 14) / 4 merged patches
    n, h, w, _ = frames.shape
    assert v.tokens_in - t.tokens_in == 2 + (n // 2) * (h // 14) * (w // 14) // 4  # + vision start/end
    assert "<|video_pad|>" in eng.prompt(video) and "<|video_pad|>" not in eng.prompt(text)


def test_hf_engine_rejects_frames_for_a_text_only_model(tmp_path):
    from verl_videorft.cot.hf_engine import HFEngine

    eng = HFEngine.__new__(HFEngine)
    eng.vision = False
    with pytest.raises(ValueError, match="text-only model cannot take frames"):
        eng.prompt(Request([{"role": "user", "content": "x"}], GenSettings(), np.zeros((2, 28, 28, 3), np.uint8)))
