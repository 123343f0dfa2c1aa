"""Images through the video path: one RGB frame, EXIF orientation applied, sized by the profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from verl_videorft.video.profiles import FrameProfile, VideoDecodeError, target_size
from verl_videorft.video.readers import Decoded, first_line, frame_meta


def read_image(path: Path, profile: FrameProfile) -> Decoded:
    """One RGB frame, EXIF orientation applied, resized with the profile's budget (bicubic)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise VideoDecodeError(path, f"corrupt or unsupported image ({first_line(err)})") from err
    th, tw = target_size(img.height, img.width, profile)
    arr = np.asarray(img.resize((tw, th), Image.BICUBIC), dtype=np.uint8)[None]
    return np.ascontiguousarray(arr), {**frame_meta(0.0, 1, [0], "pil", 0), "sample_fps": 0.0}
