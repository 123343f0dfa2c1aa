"""Writing clips: the one encoder behind test clips, benchmark clips and the demo set.

- ``write_clip(path, frames, fps=...)``: uint8 RGB ``[T, H, W, 3]`` → a video file (PyAV), with a
  chosen GOP structure and an optional display rotation.
- ``numbered_frames(n, w, h)``: frame ``i`` shows ``i`` in binary as 8 black/white stripes, so a
  decoded frame names its index (:func:`read_numbers`).
- ``moving_frames(n, w, h)``: a moving texture with a per-frame marker: every frame differs, as in
  real footage, so a wrong frame cannot pass for the right one.

    >>> path = write_clip("/tmp/c.mp4", numbered_frames(24, 160, 96), fps=24)   # doctest: +SKIP
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

# codec="auto" takes the first one the PyAV build can encode with: H.264 when it has it, else MPEG-4 part 2
AUTO_CODECS = ("libx264", "h264", "mpeg4")


def numbered_frames(n: int, width: int = 160, height: int = 96) -> np.ndarray:
    """``[n, height, width, 3]``: frame ``i`` is 8 vertical stripes, stripe ``b`` white when bit ``b`` of ``i`` is set.

        >>> read_numbers(numbered_frames(5))
        [0, 1, 2, 3, 4]
    """
    bits = (np.arange(n)[:, None] >> np.arange(8)[None, :]) & 1  # [n, 8]
    cols = np.repeat(bits.astype(np.uint8) * 255, -(-width // 8), axis=1)[:, :width]  # [n, width]
    return np.ascontiguousarray(np.broadcast_to(cols[:, None, :, None], (n, height, width, 3)))


def read_numbers(frames: np.ndarray) -> list[int]:
    """Inverse of :func:`numbered_frames` on decoded (resized, compressed) frames."""
    out = []
    for f in frames:
        stripes = np.array_split(f.mean(axis=(0, 2)), 8)
        out.append(sum(1 << b for b, s in enumerate(stripes) if s[len(s) // 2] > 128))
    return out


def moving_frames(n: int, width: int = 128, height: int = 96, seed: int = 0, *,
                  noise: bool = False) -> Iterator[np.ndarray]:
    """``n`` frames ``[height, width, 3]``, one at a time: a texture scrolling 2 px a frame plus an
    8×8 marker whose grey level changes every frame. The texture is smooth random waves (compresses
    like footage and resizes alike in every decoder), or with ``noise=True`` random pixels (the
    hardest content for an encoder: big P-frames, odd GOP decisions). A long 720p clip never sits
    in memory whole."""
    rng = np.random.default_rng(seed)
    if noise:
        texture = rng.integers(0, 256, (height, width + 2 * n, 3), dtype=np.uint8)
    else:
        freq = rng.uniform(0.02, 0.12, (3, 2))  # per channel: radians per pixel along x and y
        phase = rng.uniform(0, 2 * np.pi, (3, 2))
        y = np.arange(height, dtype=np.float32)[:, None]
        x = np.arange(width + 2 * n, dtype=np.float32)[None, :]
        texture = np.stack([127.5 + 63 * (np.sin(freq[c, 0] * x + phase[c, 0]) + np.sin(freq[c, 1] * y + phase[c, 1]))
                            for c in range(3)], axis=-1).astype(np.uint8)
    for i in range(n):
        frame = np.ascontiguousarray(texture[:, 2 * i:2 * i + width])
        frame[:8, :8] = (i * 37) % 256
        yield frame


def write_clip(path: str | Path, frames: Iterable[np.ndarray], *, fps: int = 24, codec: str = "libx264",
               gop: int | None = None, bframes: int | None = None, options: dict[str, str] | None = None,
               pix_fmt: str = "yuv420p", rotate: int = 0) -> Path:
    """Encode ``frames`` (uint8 RGB ``[H, W, 3]`` each, an array or any iterable) to ``path`` with
    PyAV and return the path.

    ``gop``: keyframe interval; ``bframes``: max consecutive B-frames; ``options``: encoder
    options (``{"x264-params": "open-gop=1"}``); ``rotate``: clockwise display rotation written
    into the container (0, 90, 180, 270), as a phone records a portrait clip. ``codec="auto"``
    takes the first of :data:`AUTO_CODECS` this PyAV build can encode with.
    """
    import av

    if codec == "auto":
        codec = next((c for c in AUTO_CODECS if _can_encode(c)), AUTO_CODECS[-1])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "rgb8" if codec == "gif" else pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        if codec == "mpeg4":
            stream.bit_rate = 2_000_000
        stream.options = dict(options or {})
        if rotate:
            stream.set_display_rotation(-rotate)  # PyAV takes counter-clockwise degrees
        for arr in itertools.chain([first], frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _can_encode(codec: str) -> bool:
    import av

    try:
        av.Codec(codec, "w")
    except ValueError:  # UnknownCodecError: not in this PyAV build
        return False
    return True
