"""Media checks shared by the sampler, the dataset, the data CLI, SFT and evaluation.

- ``check_media(path)``: why a media path cannot be used (missing, empty, not a file, a folder
  without frames), or ``None``; a stat, no decoding.
- ``frame_files(folder)``: the frame images of a folder of frames, in order.
- ``placeholder_frames(profile, data_type)``: black frames sized by the profile, standing in for
  media that could not be decoded so a batch keeps its shape.

    >>> check_media("/no/such/clip.mp4")
    'media file not found'
    >>> placeholder_frames(resolve_profile("train")).shape
    (16, 308, 308, 3)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from verl_videorft.video.profiles import IMAGE_EXTENSIONS, FrameProfile, image_size, resolve_profile, target_size


def _natural(name: str) -> list:
    """``frame_9.jpg`` before ``frame_10.jpg`` (digits compare as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a folder of frames, sorted by name with numbers compared as numbers
    (hidden files skipped); ``[]`` when there are none.

        >>> [p.name for p in frame_files(folder)]       # doctest: +SKIP
        ['00001.jpg', '00002.jpg', ...]
    """
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if not e.name.startswith(".") and e.is_file()
                 and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS]
    return [Path(folder) / n for n in sorted(names, key=_natural)]


def check_media(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be used as an image, video or folder of frames; ``None`` when it can.

    Causes: ``media file not found``, ``cannot open file (<reason>)``, ``empty file (0 bytes)``,
    ``not a regular file``, ``folder holds no frame images``. A stat (and a directory listing for a
    folder); whether the bytes decode is :func:`~verl_videorft.video.sample_frames`' business.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "media file not found"
    except OSError as err:
        return f"cannot open file ({err.strerror or err})"
    if os.path.isdir(path):
        try:
            return None if frame_files(path) else "folder holds no frame images"
        except OSError as err:
            return f"cannot open folder ({err.strerror or err})"
    if not os.path.isfile(path):
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    return None


def placeholder_frames(profile: str | dict | FrameProfile, data_type: str = "video", *,
                       minimal: bool = False) -> np.ndarray:
    """Black uint8 frames ``[T, S, S, 3]`` standing in for media that could not be read.

    ``T`` is the profile's ``nframes`` (1 for an image); ``S`` is the side of a square frame at the
    profile's budget (the video budget, or the image limits for an image), a multiple of
    ``size_multiple``, so the processor accepts them as it accepts real frames. ``minimal`` gives
    the smallest such input instead (2 frames, or 1 image, of ``2·size_multiple`` pixels a side:
    one merged token per frame pair), for a sample that must cost as few tokens as possible.

        >>> placeholder_frames({"base": "train", "size_multiple": 32}, minimal=True).shape
        (2, 64, 64, 3)
    """
    prof = resolve_profile(profile)
    image = data_type == "image"
    if minimal:
        side = 2 * prof.size_multiple
        return np.zeros((1 if image else 2, side, side, 3), dtype=np.uint8)
    # a large square shrinks to the biggest square within the budget
    big = 64 * prof.size_multiple
    side = (image_size(big, big, prof) if image else target_size(big, big, prof))[0]
    return np.zeros((1 if image else prof.nframes, side, side, 3), dtype=np.uint8)
