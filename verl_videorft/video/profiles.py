"""Frame profiles: how many frames a clip gives and how big each one is (the paper's settings).

- ``FrameProfile`` / ``PROFILES`` / ``register_profile`` / ``resolve_profile``: named frame settings.
- ``uniform_indices``: the paper's frame choice; ``target_size`` (video frames) and ``image_size``
  (images): Qwen's ``smart_resize`` with the budgets the released ``fetch_video`` / ``fetch_image`` use.
- ``VideoDecodeError``: unreadable file; the message names the file and the reason.

Released pixel budget (VideoRFT's vendored qwen-vl-utils ``fetch_video``, its constants
``VIDEO_MIN_PIXELS = VIDEO_MAX_PIXELS = 128*28*28`` for training, 256*28*28 for evaluation, and
``VIDEO_TOTAL_PIXELS = 128000*28*28*0.9``)::

    max_pixels' = max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * 2), int(1.05 * min_pixels))

then ``smart_resize(h, w, 28, min_pixels, max_pixels')``: effectively 105,369 pixels in training and
210,739 in evaluation. ``FrameProfile.budget = "released"`` (default) computes exactly that;
``"strict"`` keeps ``[min_pixels, max_pixels]`` as given. Images go through ``fetch_image``'s limits,
4*28*28 = 3,136 to 256*28*28 = 200,704 pixels (``image_min_tokens`` / ``image_max_tokens`` × m²).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
BUDGETS = ("released", "strict")


class VideoDecodeError(RuntimeError):
    """A video or image could not be read. ``str(err)`` names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class TooFewFrames(ValueError):
    """A clip with fewer than 2 frames: Qwen-VL's temporal patch needs 2 (the released sampler fails too)."""


@dataclass(frozen=True)
class FrameProfile:
    """How many frames to take from a clip and how big each one is.

    ``nframes`` must be even (Qwen-VL's temporal patch is 2). Each frame is resized keeping its
    aspect ratio, both sides multiples of ``size_multiple`` (28 for Qwen2.5-VL, 32 for Qwen3-VL), to
    the pixel budget ``budget`` names (module doc): ``released`` as the released ``fetch_video``,
    ``strict`` within ``[min_pixels, max_pixels]``. ``video_total_tokens`` × m² is the released
    ``VIDEO_TOTAL_PIXELS`` (128000 × 0.9 = 115,200 tokens). Images use ``image_min_tokens`` ..
    ``image_max_tokens`` × m² pixels (released ``fetch_image``: 4 .. 256). ``pass_fps`` tells the
    rollout side whether to hand the real sampled fps to the processor (paper's training does not,
    its evaluation does); it does not change the pixels.

        >>> FrameProfile(16, 128 * 28 * 28, 128 * 28 * 28).cache_key()
        'n16-min100352-max100352-m28-released-t115200-i4-256'
    """

    nframes: int
    min_pixels: int
    max_pixels: int
    size_multiple: int = 28
    pass_fps: bool = True
    budget: str = "released"
    video_total_tokens: int = 115_200  # released VIDEO_TOTAL_PIXELS = 128000 * 28 * 28 * 0.9
    image_min_tokens: int = 4  # released fetch_image MIN_PIXELS = 4 * 28 * 28
    image_max_tokens: int = 256  # released fetch_image MAX_PIXELS = 256 * 28 * 28

    def __post_init__(self) -> None:
        if self.nframes < 2 or self.nframes % 2:
            raise ValueError(f"FrameProfile.nframes must be even and >= 2 (temporal patch 2), "
                             f"got {self.nframes}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"FrameProfile needs 0 < min_pixels <= max_pixels, got "
                             f"{self.min_pixels}, {self.max_pixels}")
        if self.size_multiple < 1:
            raise ValueError(f"FrameProfile.size_multiple must be >= 1, got {self.size_multiple}")
        if self.budget not in BUDGETS:
            raise ValueError(f"FrameProfile.budget must be one of {BUDGETS}, got {self.budget!r}")
        if not 0 < self.image_min_tokens <= self.image_max_tokens or self.video_total_tokens < 1:
            raise ValueError(f"FrameProfile needs 0 < image_min_tokens <= image_max_tokens and "
                             f"video_total_tokens >= 1, got {self.image_min_tokens}, "
                             f"{self.image_max_tokens}, {self.video_total_tokens}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for configs, logs and JSON)."""
        return asdict(self)

    def cache_key(self) -> str:
        """Stable string of everything that changes the decoded pixels (not ``pass_fps``)."""
        return (f"n{self.nframes}-min{self.min_pixels}-max{self.max_pixels}-m{self.size_multiple}"
                f"-{self.budget}-t{self.video_total_tokens}-i{self.image_min_tokens}-{self.image_max_tokens}")


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
    """The paper's indices ``linspace(0, T-1, n).round()``; a clip shorter than ``n`` gives what it
    has, rounded down to an even count (the released ``smart_nframes``: ``floor_by_factor(min(n, T), 2)``);
    a one-frame clip raises :class:`TooFewFrames`.

        >>> uniform_indices(100, 4)
        [0, 33, 66, 99]
        >>> uniform_indices(5, 16)     # short clip: 4 of its 5 frames
        [0, 1, 3, 4]
    """
    if total_frames < 2:
        raise TooFewFrames(f"{total_frames} frame(s): a video needs at least 2 (Qwen-VL's temporal patch)")
    n = nframes if total_frames >= nframes else total_frames - total_frames % 2
    return np.linspace(0, total_frames - 1, n).round().astype(int).tolist()


def video_max_pixels(profile: FrameProfile, nframes: int | None = None) -> float:
    """The per-frame pixel cap for a clip of ``nframes`` frames (default the profile's).

        >>> video_max_pixels(PROFILES["train"]), video_max_pixels(PROFILES["eval"])
        (105369, 210739)
        >>> video_max_pixels(resolve_profile({"base": "train", "budget": "strict"}))
        100352
    """
    if profile.budget == "strict":
        return profile.max_pixels
    m2 = profile.size_multiple ** 2
    total = profile.video_total_tokens * m2
    cap = min(profile.max_pixels, total / (nframes or profile.nframes) * 2)
    return max(cap, int(profile.min_pixels * 1.05))


def target_size(height: int, width: int, profile: FrameProfile, nframes: int | None = None) -> tuple[int, int]:
    """``(H, W)`` of a video frame after Qwen's ``smart_resize`` with the profile's budget.

        >>> target_size(480, 640, PROFILES["train"])     # released training size
        (280, 364)
    """
    from qwen_vl_utils.vision_process import smart_resize

    return smart_resize(height, width, factor=profile.size_multiple, min_pixels=profile.min_pixels,
                        max_pixels=video_max_pixels(profile, nframes))


def image_size(height: int, width: int, profile: FrameProfile) -> tuple[int, int]:
    """``(H, W)`` of an image after ``smart_resize`` with the released ``fetch_image`` limits.

        >>> image_size(480, 640, PROFILES["train"])
        (364, 504)
    """
    from qwen_vl_utils.vision_process import smart_resize

    m2 = profile.size_multiple ** 2
    return smart_resize(height, width, factor=profile.size_multiple, min_pixels=profile.image_min_tokens * m2,
                        max_pixels=profile.image_max_tokens * m2)
