"""Hugging Face transformers engine (CPU or GPU): a local model folder, batched ``generate``.

A model whose config has a ``vision_config`` loads as ``AutoModelForImageTextToText`` with its
processor (describe, revise; it also runs text-only requests); any other as
``AutoModelForCausalLM`` with its tokenizer (text-only: reason). Frames reach the processor as
the sampler made them, with their metadata (the real sampled fps) and without a second resize or
frame sampling, exactly as in evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from verl_videorft.cot.requests import Reply, Request, error_text, vision_messages
from verl_videorft.evaluation.backends import PROCESSOR_KWARGS
from verl_videorft.video import processor_video_metadata


class HFEngine:
    """``generate`` over a batch, grouped by decoding settings; left padding."""

    name = "hf"

    def __init__(self, model_path: str, *, device: str | None = None, dtype: str = "auto"):
        import torch
        from transformers import AutoConfig

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = AutoConfig.from_pretrained(model_path)
        self.vision = getattr(config, "vision_config", None) is not None
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        if self.vision:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self.processor = AutoProcessor.from_pretrained(model_path)
            self.tokenizer = self.processor.tokenizer
            model_cls = AutoModelForImageTextToText
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.processor = None
            self.tokenizer = AutoTokenizer.from_pretrained(model_path)
            model_cls = AutoModelForCausalLM
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = model_cls.from_pretrained(model_path, dtype=torch_dtype).to(self.device).eval()
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def prompt(self, req: Request) -> str:
        messages = req.messages
        if req.frames is not None:
            if not self.vision:
                raise ValueError("a text-only model cannot take frames; use a vision-language model here")
            messages = vision_messages(messages, "image" if req.is_image else "video")
        template = self.processor if self.vision else self.tokenizer
        return template.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def inputs(self, batch: Sequence[Request]):
        prompts = [self.prompt(r) for r in batch]
        if not self.vision:
            return self.tokenizer(prompts, padding=True, return_tensors="pt").to(self.device)
        kwargs: dict[str, Any] = {}
        videos = [r for r in batch if r.frames is not None and not r.is_image]
        # cached frames are read-only; torch.from_numpy warns on those, so the processor gets copies
        images = [np.array(r.frames[0]) for r in batch if r.is_image]
        if videos:
            kwargs["videos"] = [np.array(r.frames) for r in videos]
            kwargs["video_metadata"] = [processor_video_metadata(r.meta, len(r.frames)) for r in videos]
        if images:
            kwargs["images"] = images
        return self.processor(text=prompts, padding=True, return_tensors="pt", **PROCESSOR_KWARGS,
                              **kwargs).to(self.device)

    def _run(self, batch: Sequence[Request]) -> list[Reply]:
        import torch

        inputs = self.inputs(batch)
        req = batch[0]
        temp = req.temperature()
        sampling = {"do_sample": True, "temperature": temp, "top_p": req.gen.top_p} if temp > 0 \
            else {"do_sample": False}
        torch.manual_seed(req.gen.seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=req.gen.max_new_tokens,
                                      pad_token_id=self.tokenizer.pad_token_id, **sampling)
        new = out[:, inputs["input_ids"].shape[1]:].tolist()
        replies = []
        for ids, mask in zip(new, inputs["attention_mask"].tolist()):
            n = next((i + 1 for i, t in enumerate(ids) if t in self.eos_ids), len(ids))
            text = self.tokenizer.decode(ids[:n], skip_special_tokens=True, clean_up_tokenization_spaces=False)
            replies.append(Reply(text, tokens_in=int(sum(mask)), tokens_out=n))
        return replies

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        # one generate call per decoding setting (a retry samples, a first attempt may not)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.gen.max_new_tokens, r.temperature(), r.gen.top_p), []).append(i)
        out: list[Reply | None] = [None] * len(requests)
        for idx in groups.values():
            batch = [requests[i] for i in idx]
            try:
                replies = self._run(batch)
            except Exception:  # noqa: BLE001 - find the one request that fails, keep the others
                replies = []
                for r in batch:
                    try:
                        replies.extend(self._run([r]))
                    except Exception as err:  # noqa: BLE001
                        replies.append(Reply("", error=error_text(err)))
            for i, rep in zip(idx, replies):
                out[i] = rep
        return [r for r in out if r is not None]
