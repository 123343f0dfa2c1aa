"""Frames for the CoT stages: the project's sampler at ``fps`` frames per second, decoded once.

The describe, revise and filter stages look at the same frames. Each process keeps one
:class:`FrameSource`, a bounded :class:`~verl_videorft.video.FrameCache` (plus its optional disk
tier, ``--frame-cache-dir``, for stages run in separate commands); the runner takes a chunk of
records through all stages together, sorted by video, so a video is decoded once for all three.
Every decode is counted and written into the stage row that caused it (``decodes``), so the
count per video survives resumes and Ray workers.

    >>> cot_profile(12.3, CotSettings(fps=1.0)).nframes
    12
    >>> cot_profile(600.0, CotSettings(fps=1.0, max_frames=64)).nframes
    64
    >>> cot_profile(0.4, CotSettings()).nframes     # at least 2 frames (Qwen's temporal patch)
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.cot.settings import CotSettings
from verl_videorft.video import IMAGE_EXTENSIONS, FrameCache, FrameProfile, resolve_profile, sample_frames


def clip_duration(path: str | Path) -> float:
    """Seconds of a video from its container header (0.0 for an image)."""
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return 0.0
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / 1e6
        if stream.frames and stream.average_rate:
            return stream.frames / float(stream.average_rate)
    return 0.0


def cot_profile(duration: float, settings: CotSettings) -> FrameProfile:
    """``fps`` frames per second of clip, within ``[2, max_frames]``, even, at ``frame_pixels``."""
    n = int(round(duration * settings.fps))
    n = max(2, min(settings.max_frames - settings.max_frames % 2, n))
    n += n % 2
    px = settings.frame_pixels
    return FrameProfile(n, px, px, settings.size_multiple)


def timestamps(meta: dict[str, Any]) -> list[float]:
    """Seconds of each sampled frame (``frame_index / source fps``); ``[0.0]`` for an image."""
    idx = meta.get("frame_indices") or [0]
    fps = meta.get("fps")
    if not fps or meta.get("backend") == "pil":
        return [0.0] * len(idx) if meta.get("backend") == "pil" else [float(i) for i in range(len(idx))]
    return [round(i / float(fps), 3) for i in idx]


class FrameSource:
    """Frames of a record's media under its CoT profile, from this process's cache or the decoder."""

    def __init__(self, settings: CotSettings, disk_dir: str | Path | None = None):
        self.settings = settings
        self.cache = FrameCache(settings.frame_cache_bytes, disk_dir)

    def profile_for(self, path: str, given: dict | None = None) -> FrameProfile:
        """The profile a previous stage used (so the cache key is the same), else a new one."""
        if given:
            return resolve_profile(given)
        return cot_profile(clip_duration(path), self.settings)

    def get(self, path: str, given_profile: dict | None = None) -> tuple[np.ndarray, dict[str, Any], int]:
        """``(frames, meta, decodes)``: ``decodes`` is 1 when this call ran the decoder, else 0.

        Raises :class:`~verl_videorft.video.VideoDecodeError` for a missing or unreadable file.
        """
        profile = self.profile_for(path, given_profile)
        before = self.cache.stats()["misses"]
        frames, meta = sample_frames(path, profile, cache=self.cache)
        return frames, meta, self.cache.stats()["misses"] - before


def frame_info(meta: dict[str, Any], settings: CotSettings) -> dict[str, Any]:
    """What a stage row keeps about its frames (the profile, so later stages reuse the same ones)."""
    return {"profile": meta.get("profile"), "timestamps": timestamps(meta), "fps": settings.fps,
            "count": len(meta.get("frame_indices") or [0])}
