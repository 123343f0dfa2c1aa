"""The sparse PyAV reader (seek + skip non-reference frames) must give exactly the frames of a
full sequential decode, whatever the GOP structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verl_videorft.video import DEFAULT_BACKEND, PROFILES, sample_frames, target_size, uniform_indices
from verl_videorft.video import pyav_reader as vp
from verl_videorft.video.writer import moving_frames, write_clip


def size_fn(h: int, w: int) -> tuple[int, int]:
    return target_size(h, w, PROFILES["train"])


def encode(path: Path, codec: str, n: int = 90, *, gop: int = 12, bframes: int = 2,
           options: dict | None = None, pix_fmt: str = "yuv420p") -> Path:
    """A moving-noise clip (every frame distinct, hard to encode) with the given GOP structure."""
    return write_clip(path, moving_frames(n, 128, 96, noise=True), fps=25, codec=codec, gop=gop, bframes=bframes,
                      options=options, pix_fmt=pix_fmt)


CASES = {
    "h264_bframes.mp4": dict(codec="libx264", gop=12, bframes=3),
    "h264_open_gop.mkv": dict(codec="libx264", gop=15, bframes=3,
                              options={"x264-params": "open-gop=1"}),
    "h264_no_b.mp4": dict(codec="libx264", gop=30, bframes=0),
    "h264_one_gop.mp4": dict(codec="libx264", gop=250, bframes=3),
    "mpeg4.avi": dict(codec="mpeg4", gop=10, bframes=2),
    "mjpeg_intra.avi": dict(codec="mjpeg", gop=1, bframes=0, pix_fmt="yuvj420p"),
}


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """``encoded(name)``: the clip of ``CASES[name]``, written once per module."""
    folder = tmp_path_factory.mktemp("gops")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = encode(folder / name, **CASES[name])
        return made[name]

    return get


@pytest.mark.parametrize("name", sorted(CASES))
def test_packet_index_counts_every_frame(encoded, name):
    pts, keyframes, _ = vp.packet_index(encoded(name))
    assert (len(pts), keyframes[0]) == (90, 0)


# AVI's index flags P-frames as keyframes: a seek lands on one, so the reader declines (None)
SPARSE_CASES = [(name, n) for name in sorted(CASES) for n in (16, 32) if (name, n) != ("mpeg4.avi", 16)]


@pytest.mark.parametrize("name, n", SPARSE_CASES)
def test_sparse_equals_sequential(encoded, name, n):
    path = encoded(name)
    pts, keyframes, _ = vp.packet_index(path)
    wanted = uniform_indices(len(pts), n)
    full, decoded, _, _ = vp.read_sequential(path, set(wanted), size_fn)
    sparse = vp.read_sparse(path, wanted, pts, keyframes, size_fn)
    assert decoded >= max(wanted) + 1 and sparse is not None, "sparse reader fell back"
    assert [i for i in wanted if not np.array_equal(sparse[0][i], full[i])] == []


def test_sparse_declines_a_misflagged_avi_keyframe(encoded):
    path = encoded("mpeg4.avi")
    pts, keyframes, _ = vp.packet_index(path)
    assert vp.read_sparse(path, uniform_indices(len(pts), 16), pts, keyframes, size_fn) is None


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("n", [16, 32])
def test_sampler_gives_the_sequential_frames(encoded, monkeypatch, name, n):
    """Whichever path the PyAV reader takes (sparse or its fallback), the frames are the same."""
    path = encoded(name)
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", "pyav")
    frames, meta = sample_frames(path, {"base": "train", "nframes": n}, cache=False)
    wanted = uniform_indices(90, n)
    full, _, _, _ = vp.read_sequential(path, set(wanted), size_fn)
    assert meta["backend"] == "pyav" and meta["frame_indices"] == wanted
    assert all(np.array_equal(frames[j], full[i]) for j, i in enumerate(wanted))


def test_sparse_reads_only_part_of_a_long_gop_clip(tmp_path):
    # with short GOPs the reader seeks past whole GOPs; the frames it returns are still exact
    path = encode(tmp_path / "short_gops.mp4", "libx264", n=120, gop=6, bframes=2)
    pts, keyframes, _ = vp.packet_index(path)
    assert len(keyframes) >= 120 // 6
    wanted = [5, 60, 119]
    sparse, _, _ = vp.read_sparse(path, wanted, pts, keyframes, size_fn)
    full, _, _, _ = vp.read_sequential(path, set(wanted), size_fn)
    assert all(np.array_equal(sparse[i], full[i]) for i in wanted)


MEDIA = ["video_r1_example.mp4", "flipping_a_pancake.mkv", "CATER_new_003595.gif"]


@pytest.mark.parametrize("name", MEDIA)
def test_media_sparse_exact(media_dir, name):
    path = media_dir / name
    pts, keyframes, _ = vp.packet_index(path)
    wanted = uniform_indices(len(pts), 16)
    sparse, _, _ = vp.read_sparse(path, wanted, pts, keyframes, size_fn)
    full, _, _, _ = vp.read_sequential(path, set(wanted), size_fn)
    assert all(np.array_equal(sparse[i], full[i]) for i in wanted)


def full_decode(path: Path, indices: list[int]) -> np.ndarray:
    """Every frame decoded in order (no seeking, no skipping), the wanted ones kept, same resize."""
    full, _, _, _ = vp.read_sequential(path, set(indices), size_fn)
    return np.stack([full[i] for i in indices])


@pytest.mark.parametrize("workers", ["1", "3"])
@pytest.mark.parametrize("name", MEDIA)
def test_default_reader_is_bit_identical_to_a_full_decode(media_dir, monkeypatch, name, workers):
    monkeypatch.delenv("VIDEORFT_VIDEO_BACKEND", raising=False)
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", workers)
    frames, meta = sample_frames(media_dir / name, "train", cache=False)
    assert meta["backend"] == DEFAULT_BACKEND == "pyav"
    assert np.array_equal(frames, full_decode(media_dir / name, meta["frame_indices"]))


def test_default_reader_decodes_less_than_the_clip(media_dir, monkeypatch):
    # skipping non-reference frames and whole GOPs: about half of the clip's 491 frames
    monkeypatch.delenv("VIDEORFT_VIDEO_BACKEND", raising=False)
    _, meta = sample_frames(media_dir / "video_r1_example.mp4", "train", cache=False)
    assert meta["decoded_frames"] < 0.6 * meta["total_frames"]
