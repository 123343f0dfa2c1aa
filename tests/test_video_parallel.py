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
UNIQUE = uniform_indices(450, 16)
KEYS = list(range(0, 450, 50))
RUNS = vb.split_at_keyframes(UNIQUE, KEYS, 3)


def gop_of(i: int) -> int:
    return max(k for k in KEYS if k <= i)


def test_split_keeps_order():
    assert len(RUNS) == 3 and [i for run in RUNS for i in run] == UNIQUE


@pytest.mark.parametrize("left", range(len(RUNS) - 1))
def test_split_keeps_gops_whole(left):
    assert gop_of(RUNS[left][-1]) != gop_of(RUNS[left + 1][0])  # no GOP is decoded by two readers


def test_split_balances_the_decode_work():
    # decode work per run: from its first GOP's keyframe to its last frame, about a third each
    work = [run[-1] - gop_of(run[0]) + 1 for run in RUNS]
    assert max(work) < 0.5 * sum(work)


@pytest.mark.parametrize("unique, keys, cut", [
    # GOPs 0-249 and 250-449 hold 9 and 7 wanted frames: two runs, split at the keyframe
    (uniform_indices(450, 16), [0, 250], 9),
    # three GOPs of 150, 150, 10 frames of work: the tiny last GOP joins the middle run
    (uniform_indices(310, 16), [0, 150, 300], 8),
])
def test_split_balances_unequal_gops(unique, keys, cut):
    assert vb.split_at_keyframes(unique, keys, 2) == [unique[:cut], unique[cut:]]


@pytest.mark.parametrize("unique,keys,parts", [
    ([0, 1, 2], [0], 4),                      # 3-frame clip: too little work to split
    (uniform_indices(450, 16), [0], 4),       # one GOP: nothing to split at
    (uniform_indices(450, 16), [0, 250], 1),  # one worker
    (uniform_indices(40, 16), [0, 20], 2),    # 40 frames: below MIN_SEGMENT_FRAMES per run
])
def test_split_keeps_one_run(unique, keys, parts):
    assert vb.split_at_keyframes(unique, keys, parts) == [unique]


@pytest.mark.parametrize("parts", range(1, 9))
def test_split_never_more_runs_than_gops_or_parts(parts):
    unique = uniform_indices(1000, 32)
    runs = vb.split_at_keyframes(unique, [0, 400, 800], parts)
    assert len(runs) <= min(parts, 3) and [i for run in runs for i in run] == unique


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize("env, expected", [
    ("3", 3),
    (None, None),  # unset: a positive default
])
def test_decode_workers_setting(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("VIDEORFT_DECODE_WORKERS", raising=False)
        assert vb.decode_workers() >= 1
    else:
        monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", env)
        assert vb.decode_workers() == expected


BAD_WORKERS = ["0", "two", "-1"]


@pytest.mark.parametrize("bad", BAD_WORKERS)
def test_bad_decode_workers_is_refused(monkeypatch, bad):
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", bad)
    with pytest.raises(ValueError, match="VIDEORFT_DECODE_WORKERS"):
        vb.decode_workers()


@pytest.mark.parametrize("bad", BAD_WORKERS)
def test_bad_decode_workers_is_reported_not_hidden_by_a_fallback(monkeypatch, clip, bad):
    monkeypatch.setenv("VIDEORFT_DECODE_WORKERS", bad)
    with pytest.raises(VideoDecodeError, match="VIDEORFT_DECODE_WORKERS"):
        sample_frames(clip, "train", cache=False)


# -- same frames -------------------------------------------------------------------------------
def one_and_three_workers(path, backend: str):
    """``sample_frames`` with one decoder and with three, same backend: ``(one, meta, three, meta)``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDEORFT_VIDEO_BACKEND", backend)
        mp.setenv("VIDEORFT_DECODE_WORKERS", "1")
        one, meta_one = sample_frames(path, "train", cache=False)
        mp.setenv("VIDEORFT_DECODE_WORKERS", "3")
        three, meta_three = sample_frames(path, "train", cache=False)
    # how many frames each reader decoded differs (each run starts at its own keyframe); nothing else may
    meta_one.pop("decoded_frames"), meta_three.pop("decoded_frames")
    return one, meta_one, three, meta_three


@pytest.fixture(scope="module", params=[0, 90], ids=["landscape", "rotated"])
def decord_runs(request, tmp_path_factory):
    """A short-GOP clip (rotation tag 0 or 90) read by decord with one and with three workers."""
    path = short_gop_clip(tmp_path_factory.mktemp("gop") / "gop20.mp4", rotate=request.param)
    return path, request.param, one_and_three_workers(path, "decord")


def test_the_parallel_clip_really_splits(decord_runs):
    import decord

    path = decord_runs[0]
    keys = [int(k) for k in decord.VideoReader(str(path)).get_key_indices()]
    assert len(vb.split_at_keyframes(uniform_indices(240, 16), keys, 3)) == 3


def test_parallel_decord_equals_one_reader(decord_runs):
    one, meta_one, three, meta_three = decord_runs[2]
    assert meta_three["backend"] == "decord" and meta_three == meta_one
    assert np.array_equal(one, three) and len({f.tobytes() for f in three}) == 16  # 16 different frames


def test_parallel_decord_keeps_the_rotation(decord_runs):
    _, rotate, (_, _, three, _) = decord_runs
    assert (three.shape[1] > three.shape[2]) == bool(rotate)  # portrait after the 90° tag


def test_parallel_decord_picks_the_frames_pyav_picks(decord_runs, monkeypatch):
    """An independent decoder picks the same frames: each matches its own frame, not the next one."""
    path, _, (_, _, three, _) = decord_runs
    monkeypatch.setenv("VIDEORFT_VIDEO_BACKEND", "pyav")
    ref, _ = sample_frames(path, "train", cache=False)
    assert np.abs(ref.astype(int) - three).mean() < 3
    per_frame = np.abs(ref.astype(int) - three).mean(axis=(1, 2, 3))
    shifted = np.abs(ref[1:].astype(int) - three[:-1]).mean(axis=(1, 2, 3))
    assert (per_frame[:-1] < shifted).all()


def test_parallel_pyav_equals_one_reader(tmp_path):
    path = short_gop_clip(tmp_path / "gop20.mp4")
    one, meta_one, three, meta_three = one_and_three_workers(path, "pyav")
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
