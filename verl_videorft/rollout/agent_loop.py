"""``VideoAgentLoop``: verl's single-turn rollout for video questions, registered as ``videorft_agent``.

What it adds to verl's ``single_turn_agent``:

- Frames come from the dataset class's ``process_multi_modal_info`` hook (``VideoRFTDataset`` routes
  it through :mod:`verl_videorft.video` and its frame cache); the same ``(frames, metadata)`` pairs
  and ``mm_processor_kwargs`` go to the rollout server and, through verl's post-processing, to the
  training forward pass, so Qwen2.5-VL's temporal spacing (``second_per_grid_ts``) and Qwen3-VL's
  timestamps are computed from one source. On GPUs the server is verl's own vLLM server, unchanged.
- ``extra_fields["videorft_frames"]``: per vision item ``{path, frame_indices, profile, sample_fps}``,
  so the reward side can fetch exactly the frames the policy saw (``sample_frames(path, profile)``).
- Failure modes never kill a step: a video that fails to decode, or a prompt whose vision tokens do
  not fit ``rollout.prompt_length``, is replaced by a blank two-frame clip, logged once with the
  sample id and the counts, flagged in ``extra_fields["videorft_error"]`` and scored 0 by the loop
  itself (verl then skips the reward manager for it; all ``n`` rollouts of the prompt at 0 give it
  a GRPO advantage of 0).

Example (what the recipe sets)::

    actor_rollout_ref.rollout.agent.default_agent_loop=videorft_agent
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

import torch
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput
from verl.utils.profiler import simple_timer

from verl_videorft.names import AGENT_LOOP_NAME as AGENT_NAME
from verl_videorft.names import ERROR_KEY, FRAMES_KEY

logger = logging.getLogger(__name__)


class PromptTooLongError(ValueError):
    """A multimodal prompt that does not fit ``rollout.prompt_length`` (message names id and counts)."""

    def __init__(self, sample_id: str, prompt_tokens: int, vision_tokens: int, limit: int):
        self.sample_id, self.prompt_tokens = sample_id, prompt_tokens
        self.vision_tokens, self.limit = vision_tokens, limit
        super().__init__(
            f"sample {sample_id}: prompt has {prompt_tokens} tokens ({vision_tokens} vision tokens) > "
            f"max_prompt_length={limit}; lower the frame profile's nframes/max_pixels or raise "
            f"data.max_prompt_length")


def sample_id_of(kwargs: dict[str, Any]) -> str:
    """Best human-readable id of a dataset row: ``extra_info.problem_id``, ``id``, else ``index``."""
    extra = kwargs.get("extra_info") or {}
    for key in ("problem_id", "id", "uid"):
        if isinstance(extra, dict) and extra.get(key) is not None:
            return str(extra[key])
        if kwargs.get(key) is not None:
            return str(kwargs[key])
    if isinstance(extra, dict) and extra.get("index") is not None:
        return f"index={extra['index']}"
    return f"index={kwargs.get('index', '?')}"


def blank_video(nframes: int = 2, size: int = 56, fps: float = 2.0) -> tuple[torch.Tensor, dict[str, Any]]:
    """A black ``[T, 3, H, W]`` uint8 clip with qwen-vl-utils style metadata (stand-in for a bad one)."""
    frames = torch.zeros((nframes, 3, size, size), dtype=torch.uint8)
    meta = {"fps": fps, "frames_indices": list(range(nframes)), "total_num_frames": nframes,
            "video_backend": "blank"}
    return frames, meta


def frames_record(videos: list | None, messages: list[dict]) -> list[dict[str, Any]]:
    """What the reward side needs to re-read the policy's frames, one dict per video item."""
    paths = [item.get("video") for msg in messages if isinstance(msg.get("content"), list)
             for item in msg["content"] if isinstance(item, dict) and item.get("type") == "video"]
    out = []
    for i, entry in enumerate(videos or []):
        meta = entry[1] if isinstance(entry, (tuple, list)) and len(entry) == 2 else {}
        meta = meta if isinstance(meta, dict) else {}
        indices = meta.get("frame_indices", meta.get("frames_indices"))
        out.append({
            "path": meta.get("path") or (paths[i] if i < len(paths) else None),
            "frame_indices": [int(x) for x in indices] if indices is not None else None,
            "profile": meta.get("profile"),
            "sample_fps": meta.get("sample_fps", meta.get("fps")),
        })
    return out


def _without_vision(messages: list[dict]) -> list[dict]:
    """The messages with image/video items removed (last resort for an over-long prompt)."""
    out = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            content = [c for c in content if not (isinstance(c, dict) and c.get("type") in ("image", "video"))]
        out.append({**msg, "content": content})
    return out


class VideoAgentLoop(AgentLoopBase):
    """Single-turn video rollout with frame provenance and non-fatal bad samples (see module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("tools", None)  # verl passes the tool list to every loop; this one has none
        super().__init__(*args, **kwargs)
        self.prompt_length = self.rollout_config.prompt_length
        self.response_length = self.rollout_config.response_length

    def _vision_token_count(self, prompt_ids: list[int]) -> int:
        ids = {getattr(self.processor, "video_token_id", None), getattr(self.processor, "image_token_id", None)}
        ids.discard(None)
        return sum(1 for t in prompt_ids if t in ids)

    async def _build_prompt(self, messages, mm, sample_id) -> tuple[list[int], dict]:
        self._assert_mm_supported(bool(mm))
        mm_inputs: dict[str, Any] = {}
        prompt_ids = await self.loop.run_in_executor(
            None, lambda: self.continuous_token_builder.build_initial_tokens(
                messages, images=mm.get("images"), videos=mm.get("videos"), mm_inputs_out=mm_inputs))
        if len(prompt_ids) > self.prompt_length:
            if mm:
                raise PromptTooLongError(sample_id, len(prompt_ids), self._vision_token_count(prompt_ids),
                                         self.prompt_length)
            prompt_ids = self._cap_text_prompt_length(prompt_ids)
        return prompt_ids, mm_inputs

    def _placeholder(self, mm: dict) -> dict:
        """Same number of vision items, each a blank clip/image, so the chat template still matches."""
        out = {}
        if mm.get("videos") is not None or mm.get("_n_videos"):
            out["videos"] = [blank_video() for _ in range(max(1, mm.get("_n_videos", len(mm.get("videos") or []))))]
        if mm.get("images") is not None or mm.get("_n_images"):
            from PIL import Image

            n = max(1, mm.get("_n_images", len(mm.get("images") or [])))
            out["images"] = [Image.new("RGB", (56, 56)) for _ in range(n)]
        return out

    @staticmethod
    def _count_items(messages: list[dict]) -> dict:
        n_vid = n_img = 0
        for msg in messages:
            for item in msg.get("content") if isinstance(msg.get("content"), list) else []:
                if isinstance(item, dict):
                    n_vid += item.get("type") == "video"
                    n_img += item.get("type") == "image"
        return {"_n_videos": n_vid, "_n_images": n_img}

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        messages = list(kwargs["raw_prompt"])
        sample_id = sample_id_of(kwargs)
        error: str | None = None
        try:
            mm = await self.process_multi_modal_info(messages)
        except Exception as err:  # one unreadable video must not kill the step
            error = f"decode_error: {type(err).__name__}: {err}"
            mm = self._placeholder(self._count_items(messages))
        record = frames_record(mm.get("videos"), messages) if error is None else []
        try:
            prompt_ids, mm_inputs = await self._build_prompt(messages, mm, sample_id)
        except PromptTooLongError as err:
            error = f"prompt_too_long: {err}"
            mm = self._placeholder({**self._count_items(messages)})
            record = []
            try:
                prompt_ids, mm_inputs = await self._build_prompt(messages, mm, sample_id)
            except PromptTooLongError:  # the text alone is too long: drop vision, left-truncate text
                messages, mm = _without_vision(messages), {}
                prompt_ids, mm_inputs = await self._build_prompt(messages, mm, sample_id)
        if error is not None:
            logger.warning("videorft: sample %s skipped (scored 0): %s", sample_id, error)

        mm_processor_kwargs = self._get_mm_processor_kwargs(None)
        metrics: dict[str, Any] = {}
        with simple_timer("generate_sequences", metrics):
            output = await self.server_manager.generate(
                request_id=uuid4().hex, prompt_ids=prompt_ids, sampling_params=sampling_params,
                image_data=mm.get("images"), video_data=mm.get("videos"),
                mm_processor_output=self.build_sglang_video_payload(mm.get("videos"), mm_inputs),
                mm_processor_kwargs=mm_processor_kwargs)
        metrics["num_preempted"] = output.num_preempted if output.num_preempted is not None else -1

        merged, response_mask, response_logprobs = await self.ct_merge_assistant_token(
            prompt_ids, output.token_ids, [], [] if output.log_probs else None,
            assistant_logprobs=output.log_probs or None)
        n_resp = len(response_mask)
        response_ids = merged.token_ids[-n_resp:] if n_resp else []
        prompt_ids = merged.token_ids[: len(merged.token_ids) - n_resp]

        extra = dict(output.extra_fields)
        extra.update({FRAMES_KEY: record, ERROR_KEY: error, "turn_scores": [], "tool_rewards": []})
        multi_modal_data = {k: v for k, v in mm.items() if k in ("images", "videos")}
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids[: self.response_length],
            response_mask=response_mask[: self.response_length],
            response_logprobs=response_logprobs[: self.response_length] if response_logprobs else None,
            multi_modal_data=multi_modal_data,
            mm_processor_kwargs=mm_processor_kwargs,
            num_turns=2,
            metrics=metrics,
            extra_fields=extra,
            # A replaced sample is scored 0 here: verl then skips the reward manager for it, so no
            # reward can credit an answer given without the real video.
            reward_score=0.0 if error is not None else None,
        )


__all__ = ["VideoAgentLoop", "PromptTooLongError", "AGENT_NAME", "ERROR_KEY", "FRAMES_KEY",
           "blank_video", "frames_record", "sample_id_of"]
