"""vLLM offline engine (GPU): ``vllm.LLM.generate`` with one prompt dict per request.

Not runnable on this project's CPU machines (vLLM's wheel is CUDA-only); the request shape is
contract-tested against a stand-in ``vllm`` module (tests/test_cot_engines.py). The prompt dict is
the evaluation backend's (:func:`~verl_videorft.evaluation.backends.vllm_request`): the chat
template's text, ``multi_modal_data = {"video": [(frames, metadata)]}`` (or ``{"image": frame}``)
and ``mm_processor_kwargs`` that forbid a second resize or frame sampling. Text-only requests
(reason) are ``{"prompt": text}``. Each request carries its own ``SamplingParams`` (a retry
samples), which ``LLM.generate`` takes as a list of the prompts' length.

``engine_kwargs`` go to ``vllm.LLM``; by default all GPUs this process sees form one
tensor-parallel engine (in a Ray worker: the GPUs Ray gave it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verl_videorft.cot.requests import Reply, Request, error_text, vision_messages
from verl_videorft.evaluation.backends import Prepared, vllm_request
from verl_videorft.video import resolve_profile


def vllm_prompt(req: Request, prompt: str) -> dict[str, Any]:
    """The ``LLM.generate`` prompt dict of one request whose chat text is ``prompt``."""
    if req.frames is None:
        return {"prompt": prompt}
    kind = "image" if req.is_image else "video"
    profile = resolve_profile(req.meta.get("profile") or "train")
    return vllm_request(Prepared("", prompt, kind, req.frames, req.meta), profile)


class VLLMEngine:
    name = "vllm"

    def __init__(self, model_path: str, **engine_kwargs: Any):
        import torch
        from transformers import AutoConfig, AutoProcessor, AutoTokenizer
        from vllm import LLM, SamplingParams

        self._sampling_cls = SamplingParams
        config = AutoConfig.from_pretrained(model_path)
        self.vision = getattr(config, "vision_config", None) is not None
        # chat template only; vLLM does the tokenising and the vision processing
        self.template = AutoProcessor.from_pretrained(model_path) if self.vision \
            else AutoTokenizer.from_pretrained(model_path)
        kwargs: dict[str, Any] = {"max_model_len": 32768, "gpu_memory_utilization": 0.85,
                                  "tensor_parallel_size": max(1, torch.cuda.device_count())}
        if self.vision:
            kwargs["limit_mm_per_prompt"] = {"image": 1, "video": 1}
        kwargs.update(engine_kwargs)
        self.llm = LLM(model=model_path, **kwargs)

    def sampling(self, req: Request):
        temp = req.temperature()
        return self._sampling_cls(temperature=max(temp, 0.0), top_p=req.gen.top_p if temp > 0 else 1.0,
                                  max_tokens=req.gen.max_new_tokens, seed=req.gen.seed)

    def prompt(self, req: Request) -> dict[str, Any]:
        messages = req.messages
        if req.frames is not None:
            if not self.vision:
                raise ValueError("a text-only model cannot take frames; use a vision-language model here")
            messages = vision_messages(messages, "image" if req.is_image else "video")
        text = self.template.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return vllm_prompt(req, text)

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        prompts, params, slots = [], [], []
        replies: list[Reply | None] = [None] * len(requests)
        for i, req in enumerate(requests):
            try:
                prompts.append(self.prompt(req))
                params.append(self.sampling(req))
                slots.append(i)
            except Exception as err:  # noqa: BLE001 - a bad request fails alone
                replies[i] = Reply("", error=error_text(err))
        if prompts:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            for i, out in zip(slots, outputs):
                best = out.outputs[0]
                replies[i] = Reply(best.text, tokens_in=len(out.prompt_token_ids or []),
                                   tokens_out=len(best.token_ids or []))
        return [r for r in replies if r is not None]
