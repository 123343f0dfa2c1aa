"""Images and folders of frames through the video path.

- An image is one RGB frame sized by the released ``fetch_image`` limits (:func:`image_size`).
- A folder of frames (MVBench's ``data_type: "frame"`` records) is read as a video: its sorted
  frame files are the clip, sampled with the same uniform indices as a video file and sized with
  the video budget; the record's ``fps`` is the clip's frame rate.

Transparent images (RGBA, LA, P with transparency) are composited on white, as the released
``to_rgb`` does for RGBA (``convert("RGB")`` alone would turn transparent black pixels black).
EXIF orientation is applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.video.media import frame_files
from verl_videorft.video.profiles import (
    FrameProfile,
    TooFewFrames,
    VideoDecodeError,
    image_size,
    target_size,
    uniform_indices,
)
from verl_videorft.video.readers import Decoded, first_line, frame_meta

# The released fetch_video gives a list of frames sample_fps 2.0 when the element names no fps.
DEFAULT_FOLDER_FPS = 2.0


def to_rgb(img: Any) -> Any:
    """An RGB PIL image; anything with an alpha channel composited on white."""
    from PIL import Image

    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return img.convert("RGB")


def _open_rgb(path: Path) -> Any:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return to_rgb(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, OSError) as err:
        raise VideoDecodeError(path, f"corrupt or unsupported image ({first_line(err)})") from err


def read_image(path: Path, profile: FrameProfile) -> Decoded:
    """One RGB frame ``[1, H, W, 3]`` at the released image size (bicubic)."""
    from PIL import Image

    img = _open_rgb(path)
    th, tw = image_size(img.height, img.width, profile)
    arr = np.asarray(img.resize((tw, th), Image.BICUBIC), dtype=np.uint8)[None]
    return np.ascontiguousarray(arr), {**frame_meta(0.0, 1, [0], "pil", 0), "sample_fps": 0.0}


def read_frame_folder(folder: Path, profile: FrameProfile, fps: float | None = None) -> Decoded:
    """The profile's uniform frames of a folder of frames ``[T, H, W, 3]``.

    ``fps``: the frames' rate (a record's ``fps``); ``None`` = 2.0, what the released
    ``fetch_video`` assumes for a list of frames. Every frame is resized to the size the first
    sampled frame gets, so frames of mixed sizes still stack.
    """
    from PIL import Image

    rate = DEFAULT_FOLDER_FPS if fps is None else float(fps)
    if not np.isfinite(rate) or rate <= 0:
        raise VideoDecodeError(folder, f"fps must be a positive number, got {fps!r}")
    files = frame_files(folder)
    if not files:
        raise VideoDecodeError(folder, "folder holds no frame images")
    try:
        indices = uniform_indices(len(files), profile.nframes)
    except TooFewFrames as err:
        raise VideoDecodeError(folder, str(err)) from None
    frames: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    for i in indices:
        img = _open_rgb(files[i])
        if size is None:
            th, tw = target_size(img.height, img.width, profile, len(indices))
            size = (tw, th)
        frames.append(np.asarray(img.resize(size, Image.BICUBIC), dtype=np.uint8))
    return np.stack(frames), frame_meta(rate, len(files), indices, "frames", 0)
