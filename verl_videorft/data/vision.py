"""Vision items of a training sample and their decoding, shared by RL training and SFT data.

A sample's prompt holds one vision item (:func:`vision_item`): ``{"type": "video", "video": path,
...}`` with the sample's frame profile under :data:`PROFILE_KEY`. verl's agent-loop worker decodes
it through the dataset's ``_process_multi_modal_info`` hook, which calls :func:`load_vision`:
frames from :func:`verl_videorft.video.sample_frames` (shared frame cache), a black placeholder of
the profile's size for a file that does not decode (counted, and reported in ``errors``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from verl_videorft.config import data_config
from verl_videorft.data.record_check import DATA_TYPES
from verl_videorft.data.skips import BAD_SAMPLES

logger = logging.getLogger(__name__)

# the key in a vision item that carries the sample's frame profile to the decode hook
PROFILE_KEY = "videorft_profile"

_cache_lock = threading.Lock()
_cache_configured = False


class SampleDecodeError(RuntimeError):
    """A sample's image or video could not be decoded; the message names each file and reason."""


def vision_item(data_type: str, media_path: str, profile) -> dict[str, Any]:
    """The content item for a sample's image or video, as verl's agent loop and HF chat templates read it.

    ``nframes`` / ``min_pixels`` / ``max_pixels`` also let verl's stock qwen_vl_utils path decode
    the same frames if the hook is bypassed; ``videorft_profile`` is what our hook uses.
    """
    item: dict[str, Any] = {"type": data_type, data_type: media_path,
                            "min_pixels": profile.min_pixels, "max_pixels": profile.max_pixels,
                            PROFILE_KEY: profile.to_dict()}
    if data_type == "video":
        item["nframes"] = profile.nframes
    return item


def configure_cache_from(config: Any) -> None:
    """Apply ``data.videorft.frame_cache_mb`` / ``frame_cache_dir`` once per process."""
    global _cache_configured
    if _cache_configured:
        return
    with _cache_lock:
        if _cache_configured:
            return
        vcfg = data_config(config)
        kwargs: dict[str, Any] = {}
        if vcfg.frame_cache_mb is not None:
            kwargs["max_bytes"] = int(vcfg.frame_cache_mb * 2**20)
        if vcfg.frame_cache_dir:
            kwargs["disk_dir"] = os.path.expanduser(vcfg.frame_cache_dir)
        if kwargs:
            from verl_videorft.video import configure_frame_cache

            configure_frame_cache(**kwargs)
        _cache_configured = True


def load_vision(messages: list[dict]) -> tuple[list | None, list | None, list[str]]:
    """Decode every image / video item of ``messages`` through :func:`~verl_videorft.video.sample_frames`.

    Returns ``(images, videos, errors)``: ``images`` a list of PIL images, ``videos`` a list of
    ``(uint8 tensor [T, 3, H, W], metadata dict)`` as verl's agent loop and the HF / vLLM
    processors take them (``None`` when there are none), ``errors`` one message per item that
    could not be decoded (that item is then a black placeholder; counted in ``BAD_SAMPLES``).
    An agent loop can use ``errors`` to score the sample 0.
    """
    import torch
    from PIL import Image

    from verl_videorft.video import (
        VideoDecodeError,
        placeholder_frames,
        processor_video_metadata,
        resolve_profile,
        sample_frames,
    )

    images: list = []
    videos: list = []
    errors: list[str] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for item in content:
            if not isinstance(item, dict) or item.get("type") not in DATA_TYPES:
                continue
            kind = item["type"]
            src = item.get(kind)
            spec = item.get(PROFILE_KEY) or {k: item[k] for k in ("nframes", "min_pixels", "max_pixels") if k in item}
            profile = resolve_profile(spec or "train")
            try:
                if not isinstance(src, (str, os.PathLike)):
                    raise VideoDecodeError(str(src)[:80], f"{kind} item holds {type(src).__name__}, expected a path")
                frames, meta = sample_frames(src, profile)
            except (VideoDecodeError, OSError, ValueError) as e:
                BAD_SAMPLES["decode_error"] += 1
                errors.append(str(e))
                logger.warning("videorft: cannot decode %s, using black placeholder: %s", kind, e)
                frames, meta = placeholder_frames(profile, kind), {}
            if kind == "image":
                images.append(Image.fromarray(np.ascontiguousarray(frames[0])))
            else:
                tensor = torch.from_numpy(np.array(frames.transpose(0, 3, 1, 2), order="C"))  # one copy
                pass_fps = profile.pass_fps and bool(meta.get("sample_fps"))  # placeholders have none
                videos.append((tensor, processor_video_metadata(meta, tensor.shape[0], pass_fps)))
    return images or None, videos or None, errors
