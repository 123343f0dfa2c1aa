"""Frame controls for evaluation: does the model's accuracy come from the frames, and from their order?

- ``blank``: every frame black (same count and size), so only the text is left; accuracy should fall
  to what guessing from the question alone gets.
- ``shuffle``: the same frames in a random order, seeded by the sample's uid (reproducible across
  runs and backends); tasks that need the order (what happens first, which way it moves) should
  fall, tasks any single frame answers should not.

    >>> f = np.arange(4, dtype=np.uint8).reshape(4, 1, 1, 1).repeat(3, axis=3)
    >>> control_frames(f, "blank", "x").max()
    np.uint8(0)
    >>> sorted(control_frames(f, "shuffle", "bench/7")[:, 0, 0, 0].tolist())
    [0, 1, 2, 3]
    >>> (control_frames(f, "shuffle", "bench/7") == control_frames(f, "shuffle", "bench/7")).all()
    np.True_
"""

from __future__ import annotations

import hashlib

import numpy as np

FRAME_CONTROLS = ("blank", "shuffle")


def control_frames(frames: np.ndarray, control: str | None, key: str) -> np.ndarray:
    """``frames`` (``[T, H, W, 3]``) under ``control``; ``None`` returns them unchanged."""
    if control is None:
        return frames
    if control == "blank":
        return np.zeros_like(frames)
    if control == "shuffle":
        seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
        return frames[np.random.default_rng(seed).permutation(len(frames))]
    raise ValueError(f"unknown frame control {control!r}; expected one of {list(FRAME_CONTROLS)}")
