"""Frame profiles: how many frames a clip gives and how big each one is (the paper's settings).

- ``FrameProfile`` / ``PROFILES`` / ``register_profile`` / ``resolve_profile``: named frame settings.
- ``uniform_indices``: the paper's frame choice; ``target_size``: Qwen's ``smart_resize`` for a profile.
- ``VideoDecodeError``: unreadable file; the message names the file and the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

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


