"""Engines: the vLLM request shape (against a stand-in ``vllm`` module: vLLM cannot run on CPU) and
the HF engine on text-only and video requests with the tiny Qwen2.5-VL."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from verl_videorft.cot.requests import Request
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


@pytest.fixture
def vllm_run(fake_vllm, tiny_qwen, clip):
    """A video request and a text retry through the vLLM engine: ``(engine, replies, frames, prompts, params)``."""
    from verl_videorft.cot.vllm_engine import VLLMEngine

    frames, meta = sample_frames(clip, {"nframes": 4, "min_pixels": 3136, "max_pixels": 3136}, cache=False)
    eng = VLLMEngine(str(tiny_qwen), max_model_len=4096)
    video = Request([{"role": "user", "content": "describe"}], GenSettings(temperature=0.0), frames, meta,
                    [0.0, 1.0, 2.0, 3.0])
    text = Request([{"role": "user", "content": "why"}], GenSettings(temperature=0.0), retry=True)
    replies = eng.generate([video, text])
    (prompts, params), = FakeLLM.calls
    return eng, replies, frames, prompts, params


def test_vllm_replies_carry_text_and_token_counts(vllm_run):
    assert [(r.text, r.tokens_in, r.tokens_out) for r in vllm_run[1]] == [("<answer>A</answer>", 7, 2)] * 2


def test_vllm_engine_settings(vllm_run):
    kwargs = vllm_run[0].llm.kwargs
    assert (kwargs["max_model_len"], kwargs["limit_mm_per_prompt"]) == (4096, {"image": 1, "video": 1})


def test_vllm_video_prompt_holds_one_video_of_our_frames(vllm_run):
    _, _, frames, (v, _), _ = vllm_run
    assert v["prompt"].count("<|video_pad|>") == 1
    (vframes, vmeta), = v["multi_modal_data"]["video"]
    assert np.array_equal(vframes, frames) and len(vmeta["frames_indices"]) == 4  # shape: the eval backend's


def test_vllm_processor_neither_resizes_nor_samples_again(vllm_run):
    # placeholder count = features: no second resize or frame sampling inside vLLM's processor
    kwargs = vllm_run[3][0]["mm_processor_kwargs"]
    assert (kwargs["do_resize"], kwargs["do_sample_frames"]) == (False, False)


def test_vllm_text_prompt_is_the_prompt_alone(vllm_run):
    t = vllm_run[3][1]
    assert t == {"prompt": t["prompt"]} and "<|video_pad|>" not in t["prompt"]


def test_vllm_retry_samples(vllm_run):
    params = vllm_run[4]
    assert (params[0]["temperature"], params[1]["temperature"]) == (0.0, 0.7)


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
