"""Frame sampling for VideoRFT: uniform frames, the released pixel budget, one decode per video.

    >>> frames, meta = sample_frames("clip_1280x720.mp4", "train")   # doctest: +SKIP
    >>> frames.shape, frames.dtype                                    # doctest: +SKIP
    ((16, 224, 420, 3), dtype('uint8'))

- ``sample_frames(path, profile="train", *, fps=None, cache=True)``: uint8 RGB ``[T, H, W, 3]`` +
  metadata, for a video file, an image or a folder of frames.
- ``processor_video_metadata``: the transformers ``VideoMetadata`` of those frames.

Frame choice (paper): indices ``linspace(0, T-1, n).round()`` over the whole clip. A clip with fewer
than ``n`` frames gives what it has rounded down to an even count, as the released sampler
(``smart_nframes``); a one-frame clip is a :class:`VideoDecodeError` naming the file. An image
gives one frame (Qwen2.5-VL takes an image as image input). A folder of frames is a clip whose
frames are its sorted image files (:mod:`verl_videorft.video.images`).

Size: Qwen's own ``smart_resize`` (qwen_vl_utils) on the displayed (rotated) size with the budget
of the released ``fetch_video`` (video) or ``fetch_image`` (image), see
:mod:`verl_videorft.video.profiles`. The result is not always a fixed point of ``smart_resize``
with the profile's limits: hand the frames to the HF processor / vLLM with ``do_resize=False``.

Decoders (:mod:`verl_videorft.video.readers`): ``DEFAULT_BACKEND`` first, the other one when it
fails (PyAV reads GIFs decord cannot); ``VIDEORFT_VIDEO_BACKEND`` picks the first. A long clip is
decoded as keyframe-aligned stretches side by side, bit-identical to one reader
(``VIDEORFT_DECODE_WORKERS``, default the CPU cores; 1 = one reader). Process cache:
``VIDEORFT_FRAME_CACHE_BYTES`` / ``VIDEORFT_FRAME_CACHE_DIR`` or :func:`configure_frame_cache`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.video import readers
from verl_videorft.video.cache import FrameCache, file_key, freeze, get_frame_cache
from verl_videorft.video.images import read_frame_folder, read_image
from verl_videorft.video.media import check_media
from verl_videorft.video.profiles import IMAGE_EXTENSIONS, FrameProfile, VideoDecodeError, resolve_profile


def sample_frames(path: str | Path, profile: str | dict | FrameProfile = "train", *, fps: float | None = None,
                  cache: bool | FrameCache = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the profile's uniform frames of a video, an image or a folder of frames as uint8 RGB
    ``[T, H, W, 3]``.

    Metadata keys: ``path`` (absolute), ``fps`` (source), ``total_frames``, ``frame_indices``,
    ``sample_fps`` (frames per second of video time), ``backend`` (``decord`` | ``pyav`` | ``pil``
    | ``frames``), ``height``, ``width`` (of the returned frames, after rotation), ``rotation``
    (degrees clockwise applied for display), ``profile`` (its dict); readers that count it add
    ``decoded_frames`` (frames the decoder produced). ``fps`` is the frame rate of a folder of
    frames (a record's ``fps``; default 2.0); a video file carries its own and ignores it.
    ``cache=True`` uses :func:`get_frame_cache`; pass a :class:`FrameCache` to use another one,
    ``False`` to decode every time. The array is read-only.

    Raises :class:`VideoDecodeError` (missing, empty, corrupt, no frames, a single frame).
    """
    prof = resolve_profile(profile)
    path = Path(path)
    # the fast path (a cache hit, 7 of a group's 8 reads) costs one realpath and one stat
    folder = path.is_dir()
    try:
        key = file_key(path, prof.cache_key() + (f"|fps={fps}" if folder else ""))
    except OSError as err:
        raise VideoDecodeError(path, check_media(path) or f"cannot open file ({err.strerror or err})") from None
    if cache is False:
        frames, meta = _decode(path, prof, fps)
        return freeze(frames), meta
    store = cache if isinstance(cache, FrameCache) else get_frame_cache()
    # a failure is remembered under the same key: an unchanged corrupt file fails fast next time
    return store.get_or_compute(key, lambda: _decode(path, prof, fps), remember=(VideoDecodeError,))


def _decode(path: Path, prof: FrameProfile, fps: float | None) -> tuple[np.ndarray, dict[str, Any]]:
    cause = check_media(path)
    if cause is not None:
        raise VideoDecodeError(path, cause)
    path = path.resolve()
    try:
        if path.is_dir():
            frames, meta = read_frame_folder(path, prof, fps)
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            frames, meta = read_image(path, prof)
        else:
            frames, meta = readers.read_video(path, prof)
    except VideoDecodeError:
        raise
    except Exception as err:  # noqa: BLE001 - callers only need to catch VideoDecodeError
        raise VideoDecodeError(path, f"unreadable ({type(err).__name__}: {err})") from err
    meta.update(path=str(path), height=int(frames.shape[1]), width=int(frames.shape[2]),
                profile=prof.to_dict())
    return frames, meta


# The released training passes no fps: transformers then derives second_per_grid_ts = 2 / 2.0 = 1.0.
TRAINING_FPS = 2.0


def processor_video_metadata(meta: dict[str, Any], num_frames: int, pass_fps: bool = True) -> dict[str, Any]:
    """transformers ``VideoMetadata`` fields for frames from :func:`sample_frames` (already sampled).

    transformers 5 derives ``second_per_grid_ts = temporal_patch / sampled_fps`` with
    ``sampled_fps = len(frames_indices) / total_num_frames * fps``. ``pass_fps=True`` makes that the
    real sampling rate (as the released evaluation); ``pass_fps=False`` gives 2.0, the released
    training's ``second_per_grid_ts`` of 1.0. Used by the dataset hook, SFT and evaluation alike.

    >>> processor_video_metadata({"fps": 30.0, "total_frames": 300, "sample_fps": 1.5,
    ...                           "frame_indices": list(range(0, 300, 20))}, 15)["fps"]
    30.0
    >>> processor_video_metadata({}, 16, pass_fps=False)["fps"]
    2.0
    """
    if not pass_fps:
        return {"total_num_frames": num_frames, "fps": TRAINING_FPS, "frames_indices": list(range(num_frames)),
                "video_backend": meta.get("backend")}
    target = meta.get("sample_fps")
    if not target or not np.isfinite(target) or target <= 0:
        raise ValueError(f"{meta.get('path')}: no usable sampled fps in frame metadata ({target!r})")
    src_fps, total, idx = meta.get("fps"), meta.get("total_frames"), meta.get("frame_indices")
    if src_fps and total and idx is not None and len(idx) == num_frames \
            and abs(num_frames / total * src_fps - target) <= 1e-6 * target:
        out = {"total_num_frames": int(total), "fps": float(src_fps), "frames_indices": [int(i) for i in idx],
               "duration": total / src_fps, "video_backend": meta.get("backend")}
        if meta.get("height") and meta.get("width"):
            out.update(height=int(meta["height"]), width=int(meta["width"]))
        return out
    # Source fps or frame count unknown (some containers): a metadata whose sampled fps is right.
    return {"total_num_frames": num_frames, "fps": float(target), "frames_indices": list(range(num_frames)),
            "video_backend": meta.get("backend")}
