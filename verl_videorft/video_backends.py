"""Decoders behind :func:`verl_videorft.video.sample_frames`: PyAV first, decord second.

Order: ``VIDEORFT_VIDEO_BACKEND`` (``pyav`` default, ``decord`` = the paper's reader) first, the
other one when it fails; both failing means the file is corrupt (the error names both reasons).

- PyAV (:mod:`verl_videorft.video_pyav`) decodes only what the sampled frames need (seeks over
  whole GOPs, skips non-reference frames) with bit-identical results; it also reads GIFs and
  files without a frame count in the header, which decord cannot.
- decord decodes with its own FFmpeg; a PyAV probe of the first frame gives the display size.

Both resize inside the decoder (FFmpeg's swscale, bicubic) straight to Qwen's ``smart_resize``
size, so a 1280×720 frame is never converted to full-size RGB, and both honour the container's
rotation (decord 0.6.0 rotates itself; PyAV frames are turned with ``np.rot90``).

    >>> frames, meta = read_video(Path("clip.mp4"), PROFILES["train"])   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft import video_pyav as vp
from verl_videorft.video import FrameProfile, VideoDecodeError, backend_order, target_size, \
    uniform_indices

logger = logging.getLogger(__name__)

Decoded = tuple[np.ndarray, dict[str, Any]]


def _first_line(err: BaseException, limit: int = 160) -> str:
    """decord's messages carry C++ source locations and a backtrace; keep the gist."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+?\.(cc|h):\d+: ", "", text)
    return f"{type(err).__name__}: {text[:limit]}" if text else type(err).__name__


def _meta(fps: float, total: int, indices: list[int], backend: str, rotation: int) -> dict[str, Any]:
    return {
        "fps": float(fps),
        "total_frames": int(total),
        "frame_indices": [int(i) for i in indices],
        # frames per second of video time, as qwen_vl_utils computes it
        "sample_fps": float(len(indices) / max(total, 1e-6) * fps) if fps else 0.0,
        "backend": backend,
        "rotation": int(rotation),
    }


def read_video(path: Path, profile: FrameProfile) -> Decoded:
    """Uniform frames of ``path`` for ``profile``; raises :class:`VideoDecodeError`."""
    readers = {"decord": _read_decord, "pyav": _read_pyav}
    errors: list[str] = []
    for name in backend_order():
        try:
            return readers[name](path, profile)
        except Exception as err:  # noqa: BLE001 - any failure means: try the other decoder
            reason = (err.reason if isinstance(err, VideoDecodeError)
                      else str(err) if isinstance(err, vp.NoVideoStream) else _first_line(err))
            errors.append(f"{name}: {reason}")
            logger.debug("%s failed on %s: %s", name, path, err)
    raise VideoDecodeError(path, "corrupt or unsupported video (" + "; ".join(errors) + ")")


# -- decord ------------------------------------------------------------------------------------
def _probe_display_size(path: Path) -> tuple[int, int, int]:
    """``(height, width, rotation)`` as displayed, from the container header and the first frame."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"  # frame threads would buffer several frames before the first
        rotation = 0
        for frame in container.decode(stream):
            rotation = vp.clockwise(frame)
            break
        h, w = stream.codec_context.height, stream.codec_context.width
    return (w, h, rotation) if rotation in (90, 270) else (h, w, rotation)


def _read_decord(path: Path, profile: FrameProfile) -> Decoded:
    import decord

    height, width, rotation = _probe_display_size(path)
    th, tw = target_size(height, width, profile)
    # width/height make decord's FFmpeg filter graph scale while decoding (display orientation)
    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), width=tw, height=th, num_threads=0)
    total, fps = len(vr), vr.get_avg_fps()
    if total < 1:
        raise RuntimeError("decord reports no frames")
    indices = uniform_indices(total, profile.nframes)
    unique = sorted(set(indices))
    batch = vr.get_batch(unique).asnumpy()
    if len(unique) != len(indices):  # short clip padded with a repeated last frame
        pos = {idx: i for i, idx in enumerate(unique)}
        batch = batch[[pos[i] for i in indices]]
    if batch.shape[1:3] != (th, tw):
        raise RuntimeError(f"decord returned {batch.shape[1:3]} instead of {(th, tw)}")
    return np.ascontiguousarray(batch), _meta(fps, total, indices, "decord", rotation)


# -- PyAV --------------------------------------------------------------------------------------
def _read_pyav(path: Path, profile: FrameProfile) -> Decoded:
    size_fn = lambda h, w: target_size(h, w, profile)  # noqa: E731
    index = vp.packet_index(path)
    if index is not None:
        pts, keyframes, fps = index
        if not pts:
            raise VideoDecodeError(path, "no video frames")
        indices = uniform_indices(len(pts), profile.nframes)
        try:
            sparse = vp.read_sparse(path, indices, pts, keyframes, size_fn)
        except Exception as err:  # noqa: BLE001 - e.g. a demuxer that cannot seek
            logger.debug("sparse PyAV decode failed on %s: %s", path, err)
            sparse = None
        if sparse is not None:
            kept, rotation = sparse
            frames = np.stack([kept[i] for i in indices])
            return frames, _meta(fps, len(pts), indices, "pyav", rotation)
    # no usable timestamps, or they did not match the decoded frames: count by decoding
    total = len(index[0]) if index else _count_frames(path)
    if total < 1:
        raise VideoDecodeError(path, "no video frames")
    indices = uniform_indices(total, profile.nframes)
    kept, decoded, fps, rotation = vp.read_sequential(path, set(indices), size_fn)
    if len(kept) < len(set(indices)):
        # fewer decodable frames than packets: resample over what actually decodes
        if decoded < 1:
            raise VideoDecodeError(path, "no decodable video frames")
        total, indices = decoded, uniform_indices(decoded, profile.nframes)
        kept, decoded, fps, rotation = vp.read_sequential(path, set(indices), size_fn)
    frames = np.stack([kept[i] for i in indices])
    return frames, _meta(fps, total, indices, "pyav", rotation)


def _count_frames(path: Path) -> int:
    """Frame count by decoding (streams without timestamps)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# -- images ------------------------------------------------------------------------------------
def read_image(path: Path, profile: FrameProfile) -> Decoded:
    """One RGB frame, EXIF orientation applied, resized with the profile's budget (bicubic)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise VideoDecodeError(path, f"corrupt or unsupported image ({_first_line(err)})") from err
    th, tw = target_size(img.height, img.width, profile)
    arr = np.asarray(img.resize((tw, th), Image.BICUBIC), dtype=np.uint8)[None]
    return np.ascontiguousarray(arr), {**_meta(0.0, 1, [0], "pil", 0), "sample_fps": 0.0}
