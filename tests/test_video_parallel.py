"""Segment-parallel decord reads: keyframe split, worker setting, bit-identical frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from verl_videorft.video import VideoDecodeError, sample_frames, uniform_indices
from verl_videorft.video import parallel as vb
from verl_videorft.video.writer import moving_frames, write_clip


def short_gop_clip(path: Path, *, frames: int = 240, gop: int = 20, rotate: int = 0) -> Path:
    """A moving 480×270 H.264 clip with a keyframe every ``gop`` frames (many GOPs to split)."""
    return write_clip(path, moving_frames(frames, 480, 270), fps=24, gop=gop,
                      options={"x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}, rotate=rotate)


# -- splitting ---------------------------------------------------------------------------------
def test_split_keeps_order_and_gops_whole():
    unique = uniform_indices(450, 16)
    keys = list(range(0, 450, 50))
    runs = vb.split_at_keyframes(unique, keys, 3)
    assert len(runs) == 3
    assert [i for run in runs for i in run] == unique
    gop = lambda i: max(k for k in keys if k <= i)  # noqa: E731
    for a, b in zip(runs, runs[1:]):
        assert gop(a[-1]) != gop(b[0])  # no GOP is decoded by two readers
    # decode work per run: from its first GOP's keyframe to its last frame, about a third each
    work = [run[-1] - gop(run[0]) + 1 for run in runs]
    assert max(work) < 0.5 * sum(work)


def test_split_balances_unequal_gops():
    # GOPs 0-249 and 250-449 hold 9 and 7 wanted frames: two runs, split at the keyframe
    unique = uniform_indices(450, 16)
    assert vb.split_at_keyframes(unique, [0, 250], 2) == [unique[:9], unique[9:]]
    # three GOPs of 150, 150, 10 frames of work: the tiny last GOP joins the middle run
    runs = vb.split_at_keyframes(uniform_indices(310, 16), [0, 150, 300], 2)
    assert [run[0] for run in runs] == [0, 165] and runs[1][-1] == 309


@pytest.mark.parametrize("unique,keys,parts", [
    ([0, 1, 2], [0], 4),                      # 3-frame clip: too little work to split
    (uniform_indices(450, 16), [0], 4),       # one GOP: nothing to split at
    (uniform_indices(450, 16), [0, 250], 1),  # one worker
    (uniform_indices(40, 16), [0, 20], 2),    # 40 frames: below MIN_SEGMENT_FRAMES per run
])
def test_split_keeps_one_run(unique, keys, parts):
    assert vb.split_at_keyframes(unique, keys, parts) == [unique]


def test_split_never_more_runs_than_gops_or_parts():
    unique = uniform_indices(1000, 32)
    for parts in range(1, 9):
        runs = vb.split_at_keyframes(unique, [0, 400, 800], parts)
        assert len(runs) <= min(parts, 3)
        assert [i for run in runs for i in run] == unique


# -- configuration -----------------------------------------------------------------------------
def test_decode_workers_setting(monkeypatch, clip):
    monkeypatch.delenv("VIDEORFT_DECODE_WORKERS", raising=False)
    assert vb.decode_workers() >= 1
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", "3")
    assert vb.decode_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", bad)
        with pytest.raises(ValueError, match="VIDEORFT_DECODE_WORKERS"):
            vb.decode_workers()
        # reported as such, not hidden behind a decoder fallback
        with pytest.raises(VideoDecodeError, match="VIDEORFT_DECODE_WORKERS"):
            sample_frames(clip, "train", cache=False)


# -- same frames -------------------------------------------------------------------------------
def one_and_three_workers(path, monkeypatch, backend: str):
    """``sample_frames`` with one decoder and with three, same backend: ``(one, meta, three, meta)``."""
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", backend)
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", "1")
    one, meta_one = sample_frames(path, "train", cache=False)
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", "3")
    three, meta_three = sample_frames(path, "train", cache=False)
    # how many frames each reader decoded differs (each run starts at its own keyframe); nothing else may
    meta_one.pop("decoded_frames"), meta_three.pop("decoded_frames")
    return one, meta_one, three, meta_three


@pytest.mark.parametrize("rotate", [0, 90])
def test_parallel_equals_one_reader(tmp_path, monkeypatch, rotate):
    path = short_gop_clip(tmp_path / "gop20.mp4", rotate=rotate)
    import decord

    keys = [int(k) for k in decord.VideoReader(str(path)).get_key_indices()]
    assert len(vb.split_at_keyframes(uniform_indices(240, 16), keys, 3)) == 3  # really split
    one, meta_one, three, meta_three = one_and_three_workers(path, monkeypatch, "decord")
    assert meta_three["backend"] == "decord" and meta_three == meta_one
    assert np.array_equal(one, three)
    assert len({f.tobytes() for f in three}) == 16  # 16 different frames, in order
    if rotate:
        assert three.shape[1] > three.shape[2]  # portrait after the 90° tag
    # and they are the right frames: PyAV (an independent decoder) picks the same ones
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", "pyav")
    ref, _ = sample_frames(path, "train", cache=False)
    assert np.abs(ref.astype(int) - three).mean() < 3
    per_frame = np.abs(ref.astype(int) - three).mean(axis=(1, 2, 3))
    shifted = np.abs(ref[1:].astype(int) - three[:-1]).mean(axis=(1, 2, 3))
    assert (per_frame[:-1] < shifted).all()  # each matches its own frame, not the next one


def test_parallel_pyav_equals_one_reader(tmp_path, monkeypatch):
    path = short_gop_clip(tmp_path / "gop20.mp4")
    one, meta_one, three, meta_three = one_and_three_workers(path, monkeypatch, "pyav")
    assert meta_three["backend"] == "pyav" and meta_three == meta_one
    assert np.array_equal(one, three) and len({f.tobytes() for f in three}) == 16


def _decode_in_child(path: str, queue) -> None:
    frames, _ = sample_frames(path, "train", cache=False)
    queue.put(frames.shape)


def test_forked_worker_gets_its_own_pool(tmp_path, monkeypatch):
    """A DataLoader worker forked after the parent decoded: the parent's pool threads are gone in
    the child, which must start its own instead of waiting on them forever."""
    import multiprocessing as mp

    path = short_gop_clip(tmp_path / "gop20.mp4")
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", "decord")
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", "3")
    parent, _ = sample_frames(path, "train", cache=False)  # creates the parent's pool
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_decode_in_child, args=(str(path), queue))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("decoding in a forked child hung")
    assert child.exitcode == 0 and queue.get(timeout=5) == parent.shape
