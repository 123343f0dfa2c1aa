"""``VideoAgentLoop``: verl's single-turn rollout for video questions, registered as ``videorft_agent``.

A subclass of verl's ``SingleTurnAgentLoop``: its ``run`` (tracing via ``@rollout_trace_op``,
request priority and deterministic request ids, routed experts, ``mm_processor_output``) is
verl's, unchanged. This class only fills the hooks ``run`` calls:

- ``process_multi_modal_info``: frames from the dataset class's hook (``VideoRFTDataset`` routes it
  through :mod:`verl_videorft.video` and its cache); an undecodable video becomes a profile-sized
  placeholder, flagged and scored 0. Qwen2.5-VL timing is snapped to the time axis
  (:mod:`.time_axis`).
- ``_get_mm_processor_kwargs``: for Qwen2.5-VL the frames' metadata rides in the request, since
  vLLM 0.24 drops it from the ``(frames, metadata)`` tuple.
- ``ct_build_initial_tokens``: a prompt over ``rollout.prompt_length`` falls back to a minimal
  placeholder clip (then to text only); Qwen3-VL videos go to vLLM's layout, and the server is sent
  one ``<|vision_start|><|video_pad|><|vision_end|>`` span per video (:mod:`.video_spans`).

Each trajectory also carries ``extra_fields["videorft_frames"]`` (path, frame indices, profile,
sample fps per vision item, so the reward side re-reads exactly the policy's frames) and
``extra_fields["videorft_error"]``. A replaced sample scores 0 in the loop itself, so verl skips the
reward manager for it and all ``n`` rollouts of the prompt get a GRPO advantage of 0.

Example (what the recipe sets)::

    actor_rollout_ref.rollout.agent.default_agent_loop=videorft_agent
"""

from __future__ import annotations

import logging
import re
from typing import Any

import torch
from verl.experimental.agent_loop.agent_loop import AgentLoopOutput
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from verl_videorft.names import AGENT_LOOP_NAME as AGENT_NAME
from verl_videorft.names import ERROR_KEY, FRAMES_KEY
from verl_videorft.rollout import time_axis, video_spans
from verl_videorft.rollout.temporal import ShuffledRollouts

logger = logging.getLogger(__name__)

PROFILE_KEY = "videorft_profile"  # the vision item's frame profile (written by VideoRFTDataset)
_CHECKED_PROFILES: set[tuple[int, str]] = set()


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


def vision_items(messages: list[dict]) -> list[dict]:
    """The image / video content items of ``messages``, in order."""
    return [item for msg in messages if isinstance(msg.get("content"), list) for item in msg["content"]
            if isinstance(item, dict) and item.get("type") in ("image", "video")]


def item_profile(item: dict) -> Any:
    """The frame profile a vision item carries (``train`` when it carries none)."""
    from verl_videorft.video import resolve_profile

    spec = item.get(PROFILE_KEY) or {k: item[k] for k in ("nframes", "min_pixels", "max_pixels") if k in item}
    return resolve_profile(spec or "train")


def placeholder_inputs(messages: list[dict]) -> dict[str, list]:
    """One minimal black stand-in per vision item, sized by its profile (multiples of patch × merge)."""
    from PIL import Image

    from verl_videorft.video import processor_video_metadata
    from verl_videorft.video.media import placeholder_frames

    out: dict[str, list] = {}
    for item in vision_items(messages):
        frames = placeholder_frames(item_profile(item), item["type"], minimal=True)
        if item["type"] == "image":
            out.setdefault("images", []).append(Image.fromarray(frames[0]))
        else:
            tensor = torch.from_numpy(frames.transpose(0, 3, 1, 2).copy())
            out.setdefault("videos", []).append((tensor, processor_video_metadata({}, len(frames), False)))
    return out


def frames_record(videos: list | None, messages: list[dict]) -> list[dict[str, Any]]:
    """What the reward side needs to re-read the policy's frames, one dict per video item."""
    paths = [item.get("video") for item in vision_items(messages) if item["type"] == "video"]
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
    return [{**msg, "content": [c for c in msg["content"] if not (isinstance(c, dict) and c.get("type") in
                                                                  ("image", "video"))]}
            if isinstance(msg.get("content"), list) else msg for msg in messages]


class _ServerPrompt:
    """verl's server client, with the prompt swapped for the server's layout when one was built."""

    def __init__(self, client: Any, loop: VideoAgentLoop):
        self._client, self._loop = client, loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def generate(self, *args: Any, prompt_ids: list[int], **kwargs: Any) -> Any:
        server_ids = self._loop.server_prompt_ids
        return await self._client.generate(*args, prompt_ids=server_ids or prompt_ids, **kwargs)


class VideoAgentLoop(SingleTurnAgentLoop):
    """verl's single-turn loop with video frames, one time axis and non-fatal bad samples."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("tools", None)  # verl passes the tool list to every loop; this one has none
        super().__init__(*args, **kwargs)
        self.model_type = time_axis.model_type_of(self.processor) if self.processor is not None else None
        time_axis.install_on_processor(self.processor)  # verl's training forward: the same time axis
        self.server_manager = _ServerPrompt(self.server_manager, self)
        self.temporal = ShuffledRollouts(self)  # T-GRPO: shuffled-frame rollouts (rollout/temporal.py)
        self.server_manager = self.temporal.client(self.server_manager)
        self.sample_id = "?"
        self.error: str | None = None
        self.record: list[dict[str, Any]] = []
        self.server_prompt_ids: list[int] | None = None
        self._messages: list[dict] = []
        self._mm: dict[str, Any] = {}
        self._mm_kwargs: dict[str, Any] = {}

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        self.sample_id = sample_id_of(kwargs)
        output = await self.temporal.run(super().run(sampling_params, **kwargs), kwargs)
        if self.error is not None:
            logger.warning("videorft: sample %s skipped (scored 0): %s", self.sample_id, self.error)
            # verl then skips the reward manager: no answer given without the real video is credited
            output.reward_score = 0.0
        output.extra_fields.update({FRAMES_KEY: self.record, ERROR_KEY: self.error})
        return output

    # ---- hooks called by SingleTurnAgentLoop.run ------------------------------------------------
    async def process_multi_modal_info(self, messages: list[dict]) -> dict:
        self._messages = messages  # run()'s own list: emptied of vision in place if it must go
        self._check_profiles(messages)
        try:
            mm = await super().process_multi_modal_info(messages)
            self.record = frames_record(mm.get("videos"), messages)
        except Exception as err:  # noqa: BLE001 - one unreadable video must not kill the step
            self.error = f"decode_error: {type(err).__name__}: {err}"
            mm = placeholder_inputs(messages)
        self._retime(mm.get("videos"))
        self._mm = mm
        return mm

    def _get_mm_processor_kwargs(self, audio_data: list[Any] | None = None) -> dict[str, Any]:
        base = super()._get_mm_processor_kwargs(audio_data)
        self._mm_kwargs = time_axis.server_mm_kwargs(base, self._mm.get("videos"), self.model_type)
        return self._mm_kwargs

    async def ct_build_initial_tokens(self, messages: list[dict], tools: list[dict] | None = None,
                                      images: list | None = None, videos: list | None = None,
                                      audios: list | None = None, mm_inputs_out: dict | None = None) -> list[int]:
        mm_inputs_out = {} if mm_inputs_out is None else mm_inputs_out
        try:
            ids = await super().ct_build_initial_tokens(messages, tools=tools, images=images, videos=videos,
                                                        audios=audios, mm_inputs_out=mm_inputs_out)
        except ValueError as err:
            if not (images or videos) or "exceeding" not in str(err):
                raise
            ids = await self._shrink(err, messages, images, videos, audios, mm_inputs_out)
        return self._layout(ids, videos, mm_inputs_out)

    # ---- pieces --------------------------------------------------------------------------------
    def _check_profiles(self, messages: list[dict]) -> None:
        """Frame sides against the model's patch × merge, once per processor and profile."""
        for item in vision_items(messages):
            profile = item_profile(item)
            key = (id(self.processor), profile.cache_key())
            if self.processor is not None and key not in _CHECKED_PROFILES:
                video_spans.check_frame_multiple(self.processor, profile, f"frame profile {profile.to_dict()}")
                _CHECKED_PROFILES.add(key)

    def _retime(self, videos: list | None) -> None:
        """Qwen2.5-VL: snap each video's timing to the time axis, in place (the same tuple list
        goes to the server and to the training forward)."""
        if videos and self.model_type in time_axis.QWEN25_MODEL_TYPES:
            videos[:] = [(frames, time_axis.qwen25_metadata(meta, len(frames))) for frames, meta in videos]

    async def _shrink(self, err: ValueError, messages: list[dict], images: list | None, videos: list | None,
                      audios: list | None, mm_inputs_out: dict) -> list[int]:
        """Over-long prompt: minimal placeholders in place of the media, else no media at all."""
        found = re.search(r"produced (\d+) tokens", str(err))
        grid = mm_inputs_out.get("video_grid_thw")
        merge = int(getattr(getattr(self.processor, "video_processor", None), "merge_size", 2))
        vision = int(grid.prod(-1).sum()) // (merge * merge) if grid is not None else -1
        self.error = "prompt_too_long: " + str(PromptTooLongError(
            self.sample_id, int(found.group(1)) if found else -1, vision, self.prompt_length))
        self.record = []
        stand_in = placeholder_inputs(messages)
        for current, new in ((images, stand_in.get("images")), (videos, stand_in.get("videos"))):
            if current is not None and new is not None:
                current[:] = new  # run() holds these very lists: server and training see the stand-ins
        self._retime(videos)
        self._get_mm_processor_kwargs_in_place()
        mm_inputs_out.clear()
        try:
            return await super().ct_build_initial_tokens(messages, images=images, videos=videos, audios=audios,
                                                         mm_inputs_out=mm_inputs_out)
        except ValueError:  # the text alone is too long: drop the media, let verl left-truncate
            messages[:] = _without_vision(messages)
            for lst in (images, videos):
                if lst is not None:
                    lst.clear()
            self._mm.pop("images", None), self._mm.pop("videos", None)
            self._mm_kwargs.pop("video_metadata", None)
            mm_inputs_out.clear()
            return await super().ct_build_initial_tokens(messages, mm_inputs_out=mm_inputs_out)

    def _get_mm_processor_kwargs_in_place(self) -> None:
        fresh = time_axis.server_mm_kwargs(self._mm_kwargs, self._mm.get("videos"), self.model_type)
        self._mm_kwargs.clear()
        self._mm_kwargs.update(fresh)

    def _layout(self, ids: list[int], videos: list | None, mm_inputs: dict) -> list[int]:
        """Qwen3-VL: training ids in vLLM's layout; the server gets one span per video."""
        self.server_prompt_ids = None
        if not videos or self.model_type not in time_axis.QWEN3_MODEL_TYPES:
            return ids
        start, pad, end = video_spans.span_ids(self.processor)
        chunks = video_spans.all_video_chunks(self.processor, videos, mm_inputs["video_grid_thw"])
        train, self.server_prompt_ids = video_spans.to_vllm_layout(ids, chunks, start=start, pad=pad, end=end)
        return train


__all__ = ["VideoAgentLoop", "PromptTooLongError", "AGENT_NAME", "ERROR_KEY", "FRAMES_KEY",
           "frames_record", "placeholder_inputs", "sample_id_of", "vision_items", "item_profile"]
