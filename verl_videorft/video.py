"""Frame sampling for VideoRFT: uniform frames, Qwen pixel budget, one decode per video.

    >>> frames, meta = sample_frames("clip_1280x720.mp4", "train")   # doctest: +SKIP
    >>> frames.shape, frames.dtype, meta["backend"]                   # doctest: +SKIP
    ((16, 224, 420, 3), dtype('uint8'), 'decord')

- ``FrameProfile`` / ``PROFILES`` / ``register_profile`` / ``resolve_profile``: named frame settings.
- ``sample_frames(path, profile="train", *, cache=True)``: uint8 RGB ``[T, H, W, 3]`` + metadata.
- ``VideoDecodeError``: unreadable file; the message names the file and the reason.
- ``FrameCache`` / ``get_frame_cache`` / ``configure_frame_cache``: see :mod:`verl_videorft.frame_cache`.

Frame choice (paper): indices ``linspace(0, T-1, n).round()`` over the whole clip. A clip with fewer
than ``n`` frames gives all of them; an odd count is made even by repeating the last frame (what
Qwen's video processor does itself for the temporal patch of 2), so ``frame_indices`` may end with a
repeated index. Images give one frame (Qwen2.5-VL takes an image as image input).

Size: Qwen's own ``smart_resize`` (qwen_vl_utils) on the displayed (rotated) size, so frames match
``fetch_video``'s. With ``min_pixels == max_pixels`` (the paper's setting) rounding to the multiple
can land a little above or below the budget, and the result is not a fixed point of
``smart_resize``: hand the frames to the HF processor / vLLM with ``do_resize=False``.

Decoders (:mod:`verl_videorft.video_backends`): decord by default (the paper's decoder), PyAV with
``VIDEORFT_VIDEO_BACKEND=pyav``; either falls back to the other (PyAV reads GIFs decord cannot). A long
clip is decoded as keyframe-aligned stretches side by side, bit-identical to one reader
(``VIDEORFT_DECODE_WORKERS``, default the CPU cores; 1 = one reader). Process cache:
``VIDEORFT_FRAME_CACHE_BYTES`` / ``VIDEORFT_FRAME_CACHE_DIR`` or :func:`configure_frame_cache`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.frame_cache import (FrameCache, _freeze, configure_frame_cache, file_key,
                                       get_frame_cache)

__all__ = ["FrameProfile", "PROFILES", "register_profile", "resolve_profile", "sample_frames",
           "uniform_indices", "target_size", "backend_order", "VideoDecodeError", "FrameCache",
           "get_frame_cache", "configure_frame_cache", "IMAGE_EXTENSIONS", "DEFAULT_BACKEND"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


class VideoDecodeError(RuntimeError):
    """A video or image could not be read. ``str(err)`` names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class FrameProfile:
    """How many frames to take from a clip and how big each one is.

    ``nframes`` must be even (Qwen-VL's temporal patch is 2). Each frame is resized keeping its
    aspect ratio so that ``H*W`` lies in ``[min_pixels, max_pixels]`` and both sides are multiples
    of ``size_multiple`` (28 for Qwen2.5-VL, 32 for Qwen3-VL). ``pass_fps`` tells the rollout side
    whether to hand the real sampled fps to the processor (paper's training does not, its
    evaluation does); it does not change the pixels.

        >>> FrameProfile(16, 128 * 28 * 28, 128 * 28 * 28).cache_key()
        'n16-min100352-max100352-m28'
    """

    nframes: int
    min_pixels: int
    max_pixels: int
    size_multiple: int = 28
    pass_fps: bool = True

    def __post_init__(self) -> None:
        if self.nframes < 2 or self.nframes % 2:
            raise ValueError(f"FrameProfile.nframes must be even and >= 2 (temporal patch 2), "
                             f"got {self.nframes}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"FrameProfile needs 0 < min_pixels <= max_pixels, got "
                             f"{self.min_pixels}, {self.max_pixels}")
        if self.size_multiple < 1:
            raise ValueError(f"FrameProfile.size_multiple must be >= 1, got {self.size_multiple}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for configs, logs and JSON)."""
        return asdict(self)

    def cache_key(self) -> str:
        """Stable string of everything that changes the decoded pixels (not ``pass_fps``)."""
        return f"n{self.nframes}-min{self.min_pixels}-max{self.max_pixels}-m{self.size_multiple}"


PROFILES: dict[str, FrameProfile] = {
    # paper: 16 frames at 128*28*28 pixels for training, 32 at 256*28*28 for evaluation
    "train": FrameProfile(16, 128 * 28 * 28, 128 * 28 * 28),
    "eval": FrameProfile(32, 256 * 28 * 28, 256 * 28 * 28),
}


def register_profile(name: str, **fields_: Any) -> FrameProfile:
    """Add (or replace) a named profile.

        >>> register_profile("qwen3_train", nframes=16, min_pixels=128 * 32 * 32,
        ...                  max_pixels=128 * 32 * 32, size_multiple=32).size_multiple
        32
    """
    PROFILES[name] = profile = resolve_profile(fields_)
    return profile


def resolve_profile(profile: str | dict | FrameProfile) -> FrameProfile:
    """A profile name, a dict of fields or a profile → ``FrameProfile``.

    A dict may name a base profile: ``{"base": "train", "nframes": 8}`` (OmegaConf dicts work too).

        >>> resolve_profile({"base": "eval", "nframes": 8}).max_pixels == 256 * 28 * 28
        True
    """
    if isinstance(profile, FrameProfile):
        return profile
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise KeyError(f"unknown frame profile {profile!r}; known: {sorted(PROFILES)}")
        return PROFILES[profile]
    try:
        given = dict(profile)
    except (TypeError, ValueError) as err:
        raise TypeError(f"frame profile must be a name, dict or FrameProfile, got {profile!r}") from err
    base = given.pop("base", None)
    known = {f.name for f in fields(FrameProfile)}
    unknown = set(given) - known
    if unknown:
        raise ValueError(f"unknown frame profile field(s) {sorted(unknown)}; known: {sorted(known)}")
    merged = {**(resolve_profile(base).to_dict() if base else {}), **given}
    return FrameProfile(**merged)


def uniform_indices(total_frames: int, nframes: int) -> list[int]:
    """The paper's indices ``linspace(0, T-1, n).round()``; all frames when ``T < n``; even count.

        >>> uniform_indices(100, 4)
        [0, 33, 66, 99]
        >>> uniform_indices(3, 16)     # short clip: all frames, last repeated to make it even
        [0, 1, 2, 2]
    """
    if total_frames < 1:
        raise ValueError("a clip needs at least one frame")
    if total_frames <= nframes:
        idx = list(range(total_frames))
    else:
        idx = np.linspace(0, total_frames - 1, nframes).round().astype(int).tolist()
    if len(idx) % 2:
        idx.append(idx[-1])
    return idx


def target_size(height: int, width: int, profile: FrameProfile) -> tuple[int, int]:
    """``(H, W)`` after Qwen's ``smart_resize`` for this profile (aspect kept, multiples, budget)."""
    from qwen_vl_utils.vision_process import smart_resize

    return smart_resize(height, width, factor=profile.size_multiple,
                        min_pixels=profile.min_pixels, max_pixels=profile.max_pixels)


def sample_frames(path: str | Path, profile: str | dict | FrameProfile = "train", *,
                  cache: bool | FrameCache = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the profile's uniform frames of a video (or an image) as uint8 RGB ``[T, H, W, 3]``.

    Metadata keys: ``path`` (absolute), ``fps`` (source), ``total_frames``, ``frame_indices``,
    ``sample_fps`` (frames per second of video time), ``backend`` (``decord`` | ``pyav`` | ``pil``),
    ``height``, ``width`` (of the returned frames, after rotation), ``rotation`` (degrees clockwise
    applied for display), ``profile`` (its dict). ``cache=True`` uses :func:`get_frame_cache`; pass a
    :class:`FrameCache` to use another one, ``False`` to decode every time. The array is read-only.

    Raises :class:`VideoDecodeError` (missing, empty, corrupt, no frames).
    """
    prof = resolve_profile(profile)
    path = Path(path)
    try:
        key = file_key(path, prof.cache_key())
    except OSError as err:
        raise VideoDecodeError(path, f"cannot open file ({err.strerror or err})") from err
    if not path.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    if cache is False:
        frames, meta = _decode(path, prof)
        return _freeze(frames), meta
    store = cache if isinstance(cache, FrameCache) else get_frame_cache()
    # a failure is remembered under the same key: an unchanged corrupt file fails fast next time
    return store.get_or_compute(key, lambda: _decode(path, prof), remember=(VideoDecodeError,))


def _decode(path: Path, prof: FrameProfile) -> tuple[np.ndarray, dict[str, Any]]:
    from verl_videorft import video_backends as vb

    path = path.resolve()
    try:
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            frames, meta = vb.read_image(path, prof)
        else:
            frames, meta = vb.read_video(path, prof)
    except VideoDecodeError:
        raise
    except Exception as err:  # noqa: BLE001 - callers only need to catch VideoDecodeError
        raise VideoDecodeError(path, f"unreadable ({type(err).__name__}: {err})") from err
    meta.update(path=str(path), height=int(frames.shape[1]), width=int(frames.shape[2]),
                profile=prof.to_dict())
    return frames, meta


# decord, as the paper; PyAV (VIDEORFT_VIDEO_BACKEND=pyav) decodes less and measured faster on
# long H.264 clips (benchmarks/bench_video.py prints both).
DEFAULT_BACKEND = "decord"


def backend_order() -> list[str]:
    """Decoders to try, in order: ``VIDEORFT_VIDEO_BACKEND`` (``pyav`` | ``decord``, default
    ``DEFAULT_BACKEND``) first, then the other one; decord only when it is importable."""
    first = os.environ.get("VIDEORFT_VIDEO_BACKEND", DEFAULT_BACKEND).strip().lower()
    if first not in ("pyav", "decord"):
        raise ValueError(f"VIDEORFT_VIDEO_BACKEND must be 'pyav' or 'decord', got {first!r}")
    order = [first, "decord" if first == "pyav" else "pyav"]
    try:
        import decord  # noqa: F401
    except ImportError:
        order.remove("decord")
    return order


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
