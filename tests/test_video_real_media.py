"""Real media from ../shared/media (skipped when absent): frame counts, orientation, fps, errors,
with both decoders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from verl_videorft.video import VideoDecodeError, sample_frames, uniform_indices

BACKENDS = ["pyav", "decord"]


def ffmpeg_reference(path: Path, width: int, height: int) -> np.ndarray:
    """Frame 0 decoded by the ffmpeg CLI (autorotate on), scaled bicubic: an independent reference."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-vf",
                          f"scale={width}:{height}:flags=bicubic", "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


# -- real media (../shared/media) ----------------------------------------------------------------
# file -> (frames for "train", portrait?, the only backend that reads it or None)
MEDIA = {
    "video_r1_example.mp4": (16, False, None),
    "flipping_a_pancake.mkv": (16, False, None),
    "CATER_new_003595.gif": (16, False, "pyav"),
    "unordered.mov": (4, None, None),
    "video_0.mov": (2, False, None),  # 3 frames: 2 of them, as the released sampler
    "video_90.mov": (2, True, None),
    "video_180.mov": (2, False, None),
    "video_270.mov": (2, True, None),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(MEDIA))
def test_media_files(media_dir, monkeypatch, name, backend):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    n, portrait, only = MEDIA[name]
    frames, meta = sample_frames(media_dir / name, "train", cache=False)
    assert frames.shape[0] == n and frames.dtype == np.uint8
    assert meta["backend"] == (only or backend)
    h, w = frames.shape[1:3]
    assert h % 28 == 0 and w % 28 == 0 and abs(h * w / (128 * 28 * 28) - 1) < 0.15
    if portrait is not None:
        assert (h > w) == portrait
    if name != "unordered.mov":  # that one is a flat white test pattern
        assert frames.std() > 5  # real picture content, not a blank buffer


@pytest.mark.parametrize("name, profile, total, fps", [
    ("video_r1_example.mp4", "eval", 491, pytest.approx(22.29)),
    ("CATER_new_003595.gif", "train", 301, pytest.approx(24, abs=0.1)),
    ("flipping_a_pancake.mkv", "train", 310, pytest.approx(30)),
])
def test_media_frame_counts_and_fps(media_dir, name, profile, total, fps):
    _, meta = sample_frames(media_dir / name, profile, cache=False)
    assert (meta["total_frames"], meta["fps"]) == (total, fps)


def test_media_eval_indices(media_dir):
    _, meta = sample_frames(media_dir / "video_r1_example.mp4", "eval", cache=False)
    assert meta["frame_indices"] == uniform_indices(491, 32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("angle", [0, 90, 180, 270])
def test_media_rotation_matches_ffmpeg(media_dir, monkeypatch, angle, backend):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    frames, meta = sample_frames(media_dir / f"video_{angle}.mov", "train", cache=False)
    assert meta["rotation"] == angle and meta["backend"] == backend
    ref = ffmpeg_reference(media_dir / f"video_{angle}.mov", frames.shape[2], frames.shape[1])
    ours = np.abs(frames[0].astype(int) - ref).mean()
    flipped = np.abs(np.rot90(frames[0], 2).astype(int) - ref).mean()
    assert ours < 4 and flipped > 20


def test_media_corrupted(media_dir):
    with pytest.raises(VideoDecodeError, match=r"corrupted\.mp4: corrupt") as info:
        sample_frames(media_dir / "corrupted.mp4")
    assert "decord" in str(info.value) and "pyav" in str(info.value)  # both decoders were tried
