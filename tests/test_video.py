"""Frame sampler on generated clips: profiles, uniform indices, decoding (PyAV + decord), resize,
rotation, errors. Real media: test_video_real_media.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from verl_videorft.video import (
    DEFAULT_BACKEND,
    PROFILES,
    FrameProfile,
    VideoDecodeError,
    backend_order,
    image_size,
    register_profile,
    resolve_profile,
    sample_frames,
    target_size,
    uniform_indices,
)
from verl_videorft.video.writer import numbered_frames, read_numbers, write_clip

BACKENDS = ["pyav", "decord"]

META_KEYS = {"fps", "frame_indices", "sample_fps", "total_frames", "backend", "height", "width",
             "rotation", "path"}


def write_numbered_clip(path: Path, n: int, *, width: int = 160, height: int = 96, fps: int = 24,
                        codec: str = "libx264", rotate: int = 0) -> Path:
    """A clip whose frame i shows i in binary, so a decoded frame names its index."""
    return write_clip(path, numbered_frames(n, width, height), fps=fps, codec=codec, rotate=rotate)


# -- profiles ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,profile", [
    ("train", FrameProfile(16, 128 * 28 * 28, 128 * 28 * 28, 28, budget="released")),
    ("eval", FrameProfile(32, 256 * 28 * 28, 256 * 28 * 28, 28, budget="released")),
])
def test_paper_profiles(name, profile):
    assert PROFILES[name] == profile


def test_pass_fps_does_not_split_the_cache():
    assert FrameProfile(16, 10, 20, pass_fps=False).cache_key() == FrameProfile(16, 10, 20).cache_key()


@pytest.mark.parametrize("change", [
    {"nframes": 8},
    {"max_pixels": 200 * 28 * 28},
    {"size_multiple": 32},
    {"budget": "strict"},
    {"video_total_tokens": 1000},
    {"image_max_tokens": 128},
])
def test_every_pixel_field_splits_the_cache(change):
    assert resolve_profile({"base": "train", **change}).cache_key() != PROFILES["train"].cache_key()


@pytest.mark.parametrize("form, expected", [
    ({"nframes": 8, "min_pixels": 64 * 32 * 32, "max_pixels": 64 * 32 * 32, "size_multiple": 32},
     {"nframes": 8, "size_multiple": 32}),
    ({"base": "eval", "nframes": 4}, {"nframes": 4, "max_pixels": 256 * 28 * 28}),  # unnamed keys from base
])
def test_resolve_profile_from_a_dict(form, expected):
    profile = resolve_profile(form)
    assert {k: getattr(profile, k) for k in expected} == expected


@pytest.mark.parametrize("form", [
    "eval",
    PROFILES["train"],
])
def test_resolve_profile_returns_named_and_built_profiles_as_they_are(form):
    assert resolve_profile(form) is (PROFILES[form] if isinstance(form, str) else form)


@pytest.mark.parametrize("build, error, message", [
    (lambda: resolve_profile("nope"), KeyError, "unknown frame profile 'nope'"),
    (lambda: resolve_profile({"base": "train", "nframe": 4}), ValueError, "nframe"),
    (lambda: FrameProfile(15, 100, 100), ValueError, "even"),
    (lambda: FrameProfile(16, 200, 100), ValueError, "min_pixels"),
])
def test_bad_profile_is_refused(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_register_profile():
    prof = register_profile("test_qwen3", nframes=4, min_pixels=32 * 32 * 4, max_pixels=32 * 32 * 8,
                            size_multiple=32)
    try:
        assert resolve_profile("test_qwen3") == prof
    finally:
        PROFILES.pop("test_qwen3")


# the paper's linspace(0, T-1, n).round(), worked out by hand
@pytest.mark.parametrize("total,n,expected", [
    (48, 16, [0, 3, 6, 9, 13, 16, 19, 22, 25, 28, 31, 34, 38, 41, 44, 47]),
    (491, 16, [0, 33, 65, 98, 131, 163, 196, 229, 261, 294, 327, 359, 392, 425, 457, 490]),
    (17, 16, [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16]),  # one frame (8) left out
    (100, 4, [0, 33, 66, 99]),
])
def test_uniform_indices_paper_formula(total, n, expected):
    assert uniform_indices(total, n) == expected


# the released smart_nframes: floor_by_factor(min(n, T), 2) frames at linspace(0, T-1, k).round()
@pytest.mark.parametrize("total,expected", [
    (2, [0, 1]),
    (3, [0, 2]),
    (4, [0, 1, 2, 3]),
    (5, [0, 1, 3, 4]),
    (7, [0, 1, 2, 4, 5, 6]),
    (16, list(range(16))),
])
def test_uniform_indices_short_clip_takes_an_even_count(total, expected):
    assert uniform_indices(total, 16) == expected


@pytest.mark.parametrize("total", [0, 1])
def test_uniform_indices_needs_two_frames(total):
    with pytest.raises(ValueError, match="at least 2"):
        uniform_indices(total, 16)


# -- decoding generated clips ------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_sample(clip):
    return sample_frames(clip, "train", cache=False)


def test_sample_frames_shape_and_size(train_sample):
    frames, _ = train_sample
    h, w = target_size(240, 320, PROFILES["train"])
    assert frames.shape == (16, h, w, 3) and frames.dtype == np.uint8
    # smart_resize with min == max lands near the budget (rounding to 28 can overshoot a little)
    assert h % 28 == 0 and w % 28 == 0 and abs(h * w / (128 * 28 * 28) - 1) < 0.15


def test_sample_frames_metadata(train_sample, clip):
    _, meta = train_sample
    h, w = target_size(240, 320, PROFILES["train"])
    assert META_KEYS <= set(meta)
    assert {k: meta[k] for k in ("backend", "total_frames", "frame_indices", "height", "width", "rotation", "path")} \
        == {"backend": DEFAULT_BACKEND, "total_frames": 48, "frame_indices": uniform_indices(48, 16),
            "height": h, "width": w, "rotation": 0, "path": str(Path(clip).resolve())}
    assert (meta["fps"], meta["sample_fps"]) == pytest.approx((24, 16 / 48 * 24))


def test_sample_frames_are_read_only(train_sample):
    assert not train_sample[0].flags.writeable


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_are_the_uniform_indices(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    path = write_numbered_clip(tmp_path / "numbered.mp4", 40)
    frames, meta = sample_frames(path, {"base": "train", "nframes": 8}, cache=False)
    assert meta["backend"] == backend
    assert meta["frame_indices"] == uniform_indices(40, 8)
    assert read_numbers(frames) == meta["frame_indices"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n,expected", [(5, [0, 1, 3, 4]), (6, [0, 1, 2, 3, 4, 5])])
def test_short_clip_gives_an_even_count(tmp_path, monkeypatch, backend, n, expected):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    path = write_numbered_clip(tmp_path / f"short{n}.mp4", n)
    frames, meta = sample_frames(path, "train", cache=False)
    assert meta["frame_indices"] == expected and meta["backend"] == backend
    assert read_numbers(frames) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_frame_video_is_an_error_naming_the_file(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    path = write_numbered_clip(tmp_path / "single.mp4", 1)
    with pytest.raises(VideoDecodeError, match=r"single\.mp4: 1 frame\(s\): a video needs at least 2"):
        sample_frames(path, "train", cache=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gif_through_pyav(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    path = write_numbered_clip(tmp_path / "numbered.gif", 12, codec="gif", fps=10)
    frames, meta = sample_frames(path, {"base": "train", "nframes": 4}, cache=False)
    assert meta["backend"] == "pyav"  # decord cannot measure a GIF's frame count
    assert meta["frame_indices"] == [0, 4, 7, 11]
    assert read_numbers(frames) == [0, 4, 7, 11]


@pytest.mark.parametrize("env, decord_installed, expected", [
    (None, True, ["pyav", "decord"]),  # the sparse PyAV reader first by default
    ("decord", True, ["decord", "pyav"]),
    ("decord", False, ["pyav"]),
])
def test_backend_order(monkeypatch, env, decord_installed, expected):
    if env is None:
        monkeypatch.delenv("VIDEORFT_VIDEO_BACKEND", raising=False)
    else:
        monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", env)
    if not decord_installed:
        monkeypatch.setitem(sys.modules, "decord", None)  # import decord -> ImportError
    assert backend_order() == expected


def test_unknown_backend_is_refused(monkeypatch):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", "opencv")
    with pytest.raises(ValueError, match="VIDEORFT_VIDEO_BACKEND"):
        backend_order()


def test_pyav_when_decord_missing(clip, monkeypatch):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", "decord")
    monkeypatch.setitem(sys.modules, "decord", None)
    frames, meta = sample_frames(clip, "train", cache=False)
    assert meta["backend"] == "pyav" and frames.shape[0] == 16


def test_pyav_and_decord_give_the_same_frames(clip, monkeypatch):
    frames = {}
    for backend in BACKENDS:
        monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
        frames[backend], meta = sample_frames(clip, "train", cache=False)
        assert meta["backend"] == backend
    assert np.abs(frames["pyav"].astype(int) - frames["decord"]).mean() < 3  # same frames, two decoders


def test_eval_profile_size(tmp_path):
    path = write_numbered_clip(tmp_path / "wide.mp4", 8, width=640, height=200)
    frames, _ = sample_frames(path, "eval", cache=False)
    assert frames.shape[1:3] == target_size(200, 640, PROFILES["eval"])


def test_qwen3_profile_gives_multiples_of_32(tmp_path):
    path = write_numbered_clip(tmp_path / "wide.mp4", 8, width=640, height=200)
    qwen3 = {"nframes": 4, "min_pixels": 128 * 32 * 32, "max_pixels": 128 * 32 * 32, "size_multiple": 32}
    frames, _ = sample_frames(path, qwen3, cache=False)
    h, w = frames.shape[1:3]
    assert h % 32 == 0 and w % 32 == 0 and w / h == pytest.approx(640 / 200, rel=0.15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_rotated_clip_is_portrait(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    rotated = write_numbered_clip(tmp_path / "rot90.mp4", 6, width=568, height=320, rotate=90)
    frames, meta = sample_frames(rotated, "train", cache=False)
    assert meta["rotation"] == 90 and meta["backend"] == backend
    assert frames.shape[1:3] == target_size(568, 320, PROFILES["train"])


def test_image_single_frame(tmp_path):
    from PIL import Image

    img = np.zeros((300, 500, 3), np.uint8)
    img[:, :250] = 255
    Image.fromarray(img).save(tmp_path / "half.png")
    frames, meta = sample_frames(tmp_path / "half.png", "train", cache=False)
    assert frames.shape == (1, *image_size(300, 500, PROFILES["train"]), 3)
    assert meta["backend"] == "pil" and meta["frame_indices"] == [0]
    assert frames[0, :, :5].min() > 200 and frames[0, :, -5:].max() < 50  # left half white


def test_image_exif_orientation(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90° clockwise -> portrait
    Image.fromarray(np.full((200, 400, 3), 128, np.uint8)).save(tmp_path / "o.jpg", exif=exif)
    frames, _ = sample_frames(tmp_path / "o.jpg", "train", cache=False)
    assert frames.shape[1] > frames.shape[2]


# -- errors ------------------------------------------------------------------------------------
def _missing(tmp_path, clip):
    return tmp_path / "missing.mp4"


def _empty(tmp_path, clip):
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path / "empty.mp4"


def _junk(tmp_path, clip):
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    return tmp_path / "junk.mp4"


def _cut(tmp_path, clip):
    data = Path(clip).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.mp4"


def _bad_png(tmp_path, clip):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    return tmp_path / "bad.png"


@pytest.mark.parametrize("make,message", [
    (_missing, r"missing\.mp4: media file not found"),
    (_empty, r"empty\.mp4: empty file \(0 bytes\)"),
    (_junk, r"junk\.mp4: corrupt"),
    (_cut, r"cut\.mp4: corrupt"),
    (_bad_png, r"bad\.png: corrupt or unsupported image"),
])
def test_bad_media_is_a_decode_error_naming_the_file(tmp_path, clip, make, message):
    with pytest.raises(VideoDecodeError, match=message):
        sample_frames(make(tmp_path, clip))


def test_extreme_aspect_is_a_decode_error(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((2, 900, 3), np.uint8)).save(tmp_path / "strip.png")
    with pytest.raises(VideoDecodeError, match=r"strip\.png: unreadable.*aspect ratio"):
        sample_frames(tmp_path / "strip.png", "train", cache=False)


def test_audio_only_file(tmp_path):
    import av

    with av.open(str(tmp_path / "beep.m4a"), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            out.mux(packet)
    with pytest.raises(VideoDecodeError, match=r"beep\.m4a: corrupt or unsupported video.*no video stream"):
        sample_frames(tmp_path / "beep.m4a", cache=False)
