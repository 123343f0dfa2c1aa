"""Model backends for evaluation: Hugging Face transformers (CPU or GPU) and vLLM's offline engine.

Both take frames from :func:`verl_videorft.video.sample_frames` (the ``eval`` profile by default:
32 uniform frames at 256·28·28 pixels), so both see the same pixels, already resized to multiples
of 28; the processor is told not to resize again. Both pass the **sampled** fps (frames taken /
clip duration) to the processor, as the released evaluation does (training does not pass it).
Both put frames on the plugin's one time axis (:mod:`verl_videorft.rollout.time_axis`: vLLM 0.24's
M-RoPE rule, the timing sent to vLLM as ``mm_processor_kwargs``) and, for Qwen3-VL, use vLLM's
token layout (:mod:`verl_videorft.rollout.video_spans`), so training, rollout and both backends
place every frame at the same positions (``tests/test_time_axis.py``).

    >>> backend = make_backend("hf", "ckpt/", profile="eval", gen=GenerationConfig())  # doctest: +SKIP
    >>> texts = backend.generate([backend.prepare(s) for s in samples[:4]])           # doctest: +SKIP

Heavy imports (torch, transformers, vllm) happen in the constructors only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from verl_videorft.evaluation.benchmarks import EvalSample
from verl_videorft.evaluation.controls import control_frames
from verl_videorft.rollout import time_axis, video_spans
from verl_videorft.video import FrameProfile, processor_video_metadata, resolve_profile, sample_frames


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; defaults are the released evaluation's (PAPER.md, "Evaluation").

    ``temperature <= 0`` means greedy decoding.
    """

    temperature: float = 0.1
    top_p: float = 0.001
    max_new_tokens: int = 1024
    seed: int = 0


@dataclass
class Prepared:
    """One sample ready for a backend: chat prompt text plus its decoded frames."""

    uid: str
    prompt: str
    data_type: str  # "video" | "image" | "none" (text only)
    frames: np.ndarray  # uint8 [T, H, W, 3]; T == 1 for an image
    meta: dict


def build_messages(sample: EvalSample) -> list[dict]:
    """The user turn: the vision item first, then the question (no system prompt, as in RL).

    ``data_type "none"`` (frame records with ``frame_records="no_video"``) is the question alone.
    """
    if sample.data_type == "none":
        return [{"role": "user", "content": [{"type": "text", "text": sample.question}]}]
    kind = "image" if sample.data_type == "image" else "video"
    return [{"role": "user", "content": [{"type": kind, kind: sample.media_path},
                                         {"type": "text", "text": sample.question}]}]


# Frames are already at the profile's size and already the uniform sample: the processor (HF's, or
# the one vLLM runs) must neither resize again nor re-sample. A second smart_resize can move a
# frame that is just under min_pixels, which is how token/placeholder count mismatches happen.
PROCESSOR_KWARGS = {"do_resize": False, "do_sample_frames": False}


def video_metadata(prepared: Prepared, profile: FrameProfile, model_type: str | None) -> dict:
    """The processor metadata of a prepared video, on the time axis for Qwen2.5-VL."""
    meta = processor_video_metadata(prepared.meta, len(prepared.frames), profile.pass_fps)
    return time_axis.qwen25_metadata(meta, len(prepared.frames)) if model_type in time_axis.QWEN25_MODEL_TYPES \
        else meta


def prepare_sample(sample: EvalSample, processor: Any, profile: FrameProfile,
                   frame_control: str | None = None) -> Prepared:
    """Decode the sample's frames and render its chat prompt (raises on a bad video).

    A frame folder (``data_type "frame"``) is read as a video at the record's fps. ``frame_control``
    (``"blank"`` / ``"shuffle"``, :mod:`verl_videorft.evaluation.controls`) alters the decoded frames.
    """
    if sample.data_type == "none":
        prompt = processor.apply_chat_template(build_messages(sample), tokenize=False, add_generation_prompt=True)
        return Prepared(sample.uid, prompt, "none", np.zeros((0, 0, 0, 3), np.uint8), {})
    frames, meta = sample_frames(sample.media_path, profile, fps=sample.fps)
    frames = control_frames(frames, frame_control, sample.uid)
    if not frames.flags.writeable:  # cached arrays are read-only; torch.from_numpy warns on those
        frames = frames.copy()
    prompt = processor.apply_chat_template(build_messages(sample), tokenize=False, add_generation_prompt=True)
    return Prepared(sample.uid, prompt, "image" if sample.data_type == "image" else "video", frames, meta)


class HFBackend:
    """Batched ``generate`` with a transformers image-text-to-text model (Qwen2.5-VL), left padding.

    ``device`` defaults to CUDA when available; ``dtype`` ``"auto"`` keeps the checkpoint's.
    """

    name = "hf"

    def __init__(self, model_path: str, *, profile: str | dict | FrameProfile = "eval",
                 gen: GenerationConfig | None = None, device: str | None = None, dtype: str = "auto",
                 attn_implementation: str = "sdpa", frame_control: str | None = None):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.profile = resolve_profile(profile)
        self.gen = gen or GenerationConfig()
        self.frame_control = frame_control
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(model_path)
        self.processor.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForImageTextToText.from_pretrained(
            model_path, dtype=torch_dtype, attn_implementation=attn_implementation).to(self.device).eval()
        self.model_type = time_axis.model_type_of(self.model)
        time_axis.install_on_model(self.model)  # Qwen2.5-VL: vLLM's M-RoPE rule, as training
        video_spans.check_frame_multiple(self.processor, self.profile, f"eval frame profile {self.profile.to_dict()}")
        torch.manual_seed(self.gen.seed)

    def prepare(self, sample: EvalSample) -> Prepared:
        return prepare_sample(sample, self.processor, self.profile, self.frame_control)

    def build_inputs(self, batch: Sequence[Prepared]):
        """Processor outputs (tensors on the model's device) for a batch of prepared samples."""
        if self.model_type in time_axis.QWEN3_MODEL_TYPES and any(p.data_type == "video" for p in batch):
            return self._qwen3_inputs(batch).to(self.device)
        return self._processor_inputs(batch).to(self.device)

    def _processor_inputs(self, batch: Sequence[Prepared]):
        videos = [p for p in batch if p.data_type == "video"]
        images = [p.frames[0] for p in batch if p.data_type == "image"]
        kwargs: dict[str, Any] = {}
        if videos:
            kwargs["videos"] = [p.frames for p in videos]
            kwargs["video_metadata"] = [video_metadata(p, self.profile, self.model_type) for p in videos]
        if images:
            kwargs["images"] = images
        return self.processor(text=[p.prompt for p in batch], padding=True, return_tensors="pt",
                              **PROCESSOR_KWARGS, **kwargs)

    def _qwen3_inputs(self, batch: Sequence[Prepared]):
        """Qwen3-VL in vLLM's layout (no extra wrapper around the chunks), one sample at a time,
        left-padded by hand."""
        import torch
        from transformers import BatchFeature

        rows, feats = [], []
        start, pad, end = video_spans.span_ids(self.processor)
        for p in batch:
            one = self._processor_inputs([p])
            ids = one["input_ids"][0].tolist()
            if p.data_type == "video":
                chunks = video_spans.all_video_chunks(
                    self.processor, [(None, video_metadata(p, self.profile, self.model_type))], one["video_grid_thw"])
                ids, _ = video_spans.to_vllm_layout(ids, chunks, start=start, pad=pad, end=end)
            rows.append(ids)
            feats.append(one)
        width = max(len(r) for r in rows)
        pad_id = self.processor.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        out = {"input_ids": input_ids, "attention_mask": mask,
               "mm_token_type_ids": time_axis.vision_types(input_ids, self.model.config) * mask}
        for key in ("pixel_values_videos", "video_grid_thw", "pixel_values", "image_grid_thw"):
            parts = [f[key] for f in feats if key in f]
            if parts:
                out[key] = torch.cat(parts)
        return BatchFeature(out)

    def generate(self, batch: Sequence[Prepared]) -> list[str]:
        import torch

        inputs = self.build_inputs(batch)
        g = self.gen
        sampling = {"do_sample": True, "temperature": g.temperature, "top_p": g.top_p} if g.temperature > 0 \
            else {"do_sample": False}
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=g.max_new_tokens, **sampling)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True,
                                           clean_up_tokenization_spaces=False)


def vllm_request(prepared: Prepared, profile: FrameProfile, model_type: str | None = "qwen2_5_vl") -> dict:
    """A vLLM multimodal prompt dict for one prepared sample (no vllm import needed).

    Video goes as ``[(frames, metadata)]`` (the metadata carries the sampled fps, see
    :func:`~verl_videorft.video.processor_video_metadata`); ``mm_processor_kwargs`` stop a second
    resize or frame sampling, so the placeholder count vLLM computes matches the frames' features,
    and for Qwen2.5-VL carry the metadata again, since vLLM 0.24 drops it from the tuple
    (:func:`~verl_videorft.rollout.time_axis.server_mm_kwargs`).
    """
    mm_kwargs = dict(PROCESSOR_KWARGS)
    if prepared.data_type == "none":
        return {"prompt": prepared.prompt}
    if prepared.data_type == "image":
        return {"prompt": prepared.prompt, "multi_modal_data": {"image": prepared.frames[0]},
                "mm_processor_kwargs": mm_kwargs}
    video = [(prepared.frames, video_metadata(prepared, profile, model_type))]
    return {"prompt": prepared.prompt, "multi_modal_data": {"video": video},
            "mm_processor_kwargs": time_axis.server_mm_kwargs(mm_kwargs, video, model_type)}


class VLLMBackend:
    """vLLM's offline ``LLM.generate`` on GPUs. Thin on purpose: vLLM cannot run on CPU here.

    ``engine_kwargs`` go to ``vllm.LLM`` (defaults: the released eval's ``max_model_len=8192``,
    ``gpu_memory_utilization=0.8``, one video or image per prompt, all visible GPUs).
    """

    name = "vllm"

    def __init__(self, model_path: str, *, profile: str | dict | FrameProfile = "eval",
                 gen: GenerationConfig | None = None, frame_control: str | None = None, **engine_kwargs: Any):
        import torch
        from transformers import AutoProcessor
        from vllm import LLM, SamplingParams

        self.profile = resolve_profile(profile)
        self.gen = gen or GenerationConfig()
        self.frame_control = frame_control
        self.processor = AutoProcessor.from_pretrained(model_path)  # chat template only
        self.model_type = time_axis.model_type_of(self.processor)
        video_spans.check_frame_multiple(self.processor, self.profile, f"eval frame profile {self.profile.to_dict()}")
        kwargs = {"max_model_len": 8192, "gpu_memory_utilization": 0.8,
                  "limit_mm_per_prompt": {"image": 1, "video": 1},
                  "tensor_parallel_size": max(1, torch.cuda.device_count()), "seed": self.gen.seed}
        kwargs.update(engine_kwargs)
        self.llm = LLM(model=model_path, **kwargs)
        g = self.gen
        self.sampling = SamplingParams(temperature=max(g.temperature, 0.0), top_p=g.top_p if g.temperature > 0 else 1.0,
                                       max_tokens=g.max_new_tokens, seed=g.seed)

    def prepare(self, sample: EvalSample) -> dict:
        return vllm_request(prepare_sample(sample, self.processor, self.profile, self.frame_control), self.profile,
                            self.model_type)

    def generate(self, batch: Sequence[dict]) -> list[str]:
        outputs = self.llm.generate(list(batch), self.sampling, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]


def make_backend(kind: str, model_path: str, **kwargs: Any) -> HFBackend | VLLMBackend:
    """``"hf"`` or ``"vllm"`` → a backend; kwargs go to its constructor."""
    if kind == "hf":
        return HFBackend(model_path, **kwargs)
    if kind == "vllm":
        return VLLMBackend(model_path, **kwargs)
    raise ValueError(f"unknown backend {kind!r}; expected 'hf' or 'vllm'")
