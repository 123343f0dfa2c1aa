"""Video input: uniform frames at Qwen's pixel budget, decoded once per video and shared.

    >>> from verl_videorft.video import resolve_profile
    >>> resolve_profile("train").nframes
    16

- :mod:`.profiles`     ``FrameProfile``, named profiles, uniform indices, frame and image sizes.
- :mod:`.sampler`      ``sample_frames(path, profile)`` and the processor metadata for its frames.
- :mod:`.media`        ``check_media`` (missing / empty media), ``placeholder_frames``, frame folders.
- :mod:`.readers`      decoder order, the decord reader, keyframe-split parallel decoding.
- :mod:`.pyav_reader`  PyAV reader that decodes only what the sampled frames depend on.
- :mod:`.images`       images as one frame; folders of frames as a clip.
- :mod:`.cache`        the decode-once ``FrameCache`` (memory LRU + optional disk tier), ``NpyDiskStore``.
"""

from verl_videorft.video.cache import FrameCache, NpyDiskStore, configure_frame_cache, get_frame_cache
from verl_videorft.video.media import check_media, frame_files, placeholder_frames
from verl_videorft.video.profiles import (
    IMAGE_EXTENSIONS,
    PROFILES,
    FrameProfile,
    VideoDecodeError,
    image_size,
    register_profile,
    resolve_profile,
    target_size,
    uniform_indices,
    video_max_pixels,
)
from verl_videorft.video.readers import DEFAULT_BACKEND, backend_order, probe_video
from verl_videorft.video.sampler import TRAINING_FPS, processor_video_metadata, sample_frames

__all__ = ["FrameProfile", "PROFILES", "register_profile", "resolve_profile", "sample_frames",
           "uniform_indices", "target_size", "image_size", "video_max_pixels", "backend_order",
           "VideoDecodeError", "FrameCache", "NpyDiskStore", "get_frame_cache", "configure_frame_cache",
           "IMAGE_EXTENSIONS", "DEFAULT_BACKEND", "probe_video", "processor_video_metadata", "TRAINING_FPS",
           "check_media", "frame_files", "placeholder_frames"]
