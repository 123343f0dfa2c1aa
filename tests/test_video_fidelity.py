"""Frames as the released pipeline makes them: the fetch_video pixel budget, fetch_image limits,
transparent images on white, folders of frames read as clips (MVBench's ``data_type: "frame"``).

The released numbers are written here from their description (VideoRFT's vendored qwen-vl-utils:
``VIDEO_MIN_PIXELS = VIDEO_MAX_PIXELS`` = 128·28·28 for training, 256·28·28 for evaluation,
``VIDEO_TOTAL_PIXELS`` = 128000·28·28·0.9, ``max_pixels' = max(min(VIDEO_MAX_PIXELS,
total_pixels / nframes * 2), int(1.05 * min_pixels))``; ``fetch_image`` limits 4·28·28 .. 256·28·28).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from verl_videorft.video import (
    PROFILES,
    VideoDecodeError,
    check_media,
    image_size,
    resolve_profile,
    sample_frames,
    target_size,
    uniform_indices,
    video_max_pixels,
)
from verl_videorft.video.writer import numbered_frames, read_numbers


# -- video pixel budget --------------------------------------------------------------------------
@pytest.mark.parametrize("profile,expected", [
    ("train", 105_369),
    ("eval", 210_739),
])
def test_released_per_frame_cap(profile, expected):
    assert video_max_pixels(PROFILES[profile]) == expected


# smart_resize(h, w, 28, min_pixels, max_pixels') with the released caps above (105,369 / 210,739 pixels)
@pytest.mark.parametrize("h,w,train,eval_", [
    (480, 640, (280, 364), (392, 504)),
    (360, 480, (280, 364), (392, 532)),
    (480, 720, (252, 392), (364, 560)),
    (576, 720, (280, 336), (392, 504)),
    (600, 800, (280, 364), (392, 504)),
    (480, 854, (224, 420), (336, 588)),
    (768, 1024, (280, 364), (392, 504)),
    (720, 1280, (224, 420), (336, 588)),
    (1080, 1440, (280, 364), (392, 504)),
    (1080, 1920, (224, 420), (336, 588)),
    (240, 320, (280, 392), (392, 532)),   # small clips are scaled up to the budget
    (144, 176, (308, 364), (420, 504)),
    (1280, 720, (420, 224), (588, 336)),  # portrait
])
@pytest.mark.parametrize("profile", ["train", "eval"])
def test_frame_size_is_the_released_size(h, w, train, eval_, profile):
    assert target_size(h, w, PROFILES[profile]) == (train if profile == "train" else eval_)


def test_strict_budget_caps_at_max_pixels():
    # the other option: smart_resize within [min_pixels, max_pixels] as given (~10% fewer tokens here)
    assert target_size(480, 640, resolve_profile({"base": "train", "budget": "strict"})) == (252, 364)


def test_total_pixels_bind_for_very_many_frames():
    # 115,200 tokens shared by 4,000 frames: 57.6 tokens a frame, below 1.05 × min_pixels → the floor
    prof = resolve_profile({"base": "train", "nframes": 4000, "min_pixels": 4 * 28 * 28})
    assert video_max_pixels(prof) == pytest.approx(45_158.4)  # 128000·28·28·0.9 / 4000 · 2


def test_decoded_clip_has_the_released_size(tmp_path):
    from verl_videorft.video.writer import write_clip

    path = write_clip(tmp_path / "vga.mp4", numbered_frames(20, 640, 480))
    frames, _ = sample_frames(path, "train", cache=False)
    assert frames.shape == (16, 280, 364, 3)


# -- images ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("h,w,expected", [
    (20, 30, (56, 84)),         # tiny: up to at least 4·28·28 = 3,136 pixels
    (300, 500, (308, 504)),     # inside the limits: only rounded to multiples of 28
    (480, 640, (364, 504)),     # above 256·28·28 = 200,704 pixels: scaled down
    (3000, 4000, (364, 504)),
])
def test_image_size_uses_fetch_image_limits(h, w, expected):
    assert image_size(h, w, PROFILES["train"]) == expected


def test_image_size_is_the_same_for_train_and_eval():
    assert image_size(900, 1600, PROFILES["train"]) == image_size(900, 1600, PROFILES["eval"])


def test_sample_frames_on_an_image_gives_one_frame_at_image_size(tmp_path):
    Image.fromarray(np.full((480, 640, 3), 90, np.uint8)).save(tmp_path / "photo.png")
    frames, meta = sample_frames(tmp_path / "photo.png", "train", cache=False)
    assert frames.shape == (1, 364, 504, 3) and meta["backend"] == "pil"


def test_image_size_follows_the_profile_multiple(tmp_path):
    Image.fromarray(np.full((480, 640, 3), 90, np.uint8)).save(tmp_path / "photo.png")
    frames, _ = sample_frames(tmp_path / "photo.png", {"base": "train", "size_multiple": 32}, cache=False)
    h, w = frames.shape[1:3]
    assert h % 32 == 0 and w % 32 == 0 and h * w <= 256 * 32 * 32


def _rgba() -> Image.Image:
    arr = np.zeros((64, 96, 4), np.uint8)  # black colour values, fully transparent ...
    arr[:, 48:, 3] = 255  # ... except the right half: opaque black
    return Image.fromarray(arr, "RGBA")


def _la() -> Image.Image:
    return _rgba().convert("LA")


def _palette() -> Image.Image:
    img = Image.new("P", (96, 64), 0)
    img.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # entries 0 and 1 both black
    img.paste(1, (48, 0, 96, 64))
    img.info["transparency"] = 0  # entry 0 transparent
    return img


@pytest.mark.parametrize("make", [_rgba, _la, _palette])
def test_transparent_image_is_composited_on_white(tmp_path, make):
    make().save(tmp_path / "t.png")
    frames, _ = sample_frames(tmp_path / "t.png", "train", cache=False)
    w = frames.shape[2]
    assert frames[0, :, : w // 3].min() == 255  # transparent black → white, not black
    assert frames[0, :, -w // 3:].max() == 0  # opaque black stays black


# -- folders of frames ---------------------------------------------------------------------------
def frame_folder(path, n: int, *, name: str = "{:05d}.jpg", width: int = 160, height: int = 96):
    path.mkdir()
    for i, frame in enumerate(numbered_frames(n, width, height)):
        Image.fromarray(frame).save(path / name.format(i + 1), quality=95)
    return path


def test_folder_is_sampled_like_a_video(tmp_path):
    folder = frame_folder(tmp_path / "tvqa_clip", 40)
    frames, meta = sample_frames(folder, "train", fps=3, cache=False)
    assert meta["frame_indices"] == uniform_indices(40, 16)
    assert read_numbers(frames) == uniform_indices(40, 16)  # the frame files, in their order
    assert frames.shape[1:3] == target_size(96, 160, PROFILES["train"])


def test_folder_fps_is_the_records(tmp_path):
    folder = frame_folder(tmp_path / "clip", 40)
    _, meta = sample_frames(folder, "train", fps=3, cache=False)
    assert meta["fps"] == 3.0 and meta["sample_fps"] == pytest.approx(16 / 40 * 3)
    assert meta["backend"] == "frames" and meta["total_frames"] == 40


def test_folder_without_fps_assumes_2(tmp_path):
    _, meta = sample_frames(frame_folder(tmp_path / "clip", 40), "train", cache=False)
    assert meta["fps"] == 2.0


def test_folder_frames_sort_by_number_not_by_text(tmp_path):
    folder = frame_folder(tmp_path / "clip", 12, name="frame_{}.png")  # frame_1 .. frame_12
    frames, _ = sample_frames(folder, {"base": "train", "nframes": 12}, cache=False)
    assert read_numbers(frames) == list(range(12))


def test_folder_fps_is_part_of_the_cache_key(tmp_path):
    from verl_videorft.video import FrameCache

    folder = frame_folder(tmp_path / "clip", 8)
    cache = FrameCache(64 << 20)
    assert sample_frames(folder, "train", fps=3, cache=cache)[1]["fps"] == 3.0
    assert sample_frames(folder, "train", fps=5, cache=cache)[1]["fps"] == 5.0


def test_folder_short_clip_gives_an_even_count(tmp_path):
    frames, meta = sample_frames(frame_folder(tmp_path / "clip", 5), "train", cache=False)
    assert meta["frame_indices"] == [0, 1, 3, 4] and read_numbers(frames) == [0, 1, 3, 4]


@pytest.mark.parametrize("n,message", [
    (0, "folder holds no frame images"),
    (1, r"1 frame\(s\): a video needs at least 2"),
])
def test_folder_too_few_frames_is_an_error_naming_it(tmp_path, n, message):
    folder = frame_folder(tmp_path / "few", n)
    with pytest.raises(VideoDecodeError, match=rf"few: {message}"):
        sample_frames(folder, "train", cache=False)


def test_check_media_accepts_a_folder_of_frames(tmp_path):
    assert check_media(frame_folder(tmp_path / "clip", 3)) is None
