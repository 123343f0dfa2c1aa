"""The shared media pieces: ``check_media`` (missing / empty media), ``placeholder_frames``,
``NpyDiskStore`` (frame cache and embedding cache disk tier) and the clip writer."""

from __future__ import annotations

import os

import numpy as np
import pytest

from verl_videorft.video import NpyDiskStore, check_media, placeholder_frames, resolve_profile, target_size
from verl_videorft.video.writer import moving_frames, numbered_frames, read_numbers, write_clip


# -- check_media -----------------------------------------------------------------------------------
def _missing(tmp_path):
    return tmp_path / "missing.mp4"


def _empty(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    return tmp_path / "empty.mp4"


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp4")
    return tmp_path / "pipe.mp4"


def _empty_folder(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    return tmp_path / "frames"


def _good(tmp_path):
    (tmp_path / "ok.mp4").write_bytes(b"\x00" * 10)  # bytes present; decoding is another matter
    return tmp_path / "ok.mp4"


@pytest.mark.parametrize("make,cause", [
    (_missing, "media file not found"),
    (_empty, "empty file (0 bytes)"),
    (_fifo, "not a regular file"),
    (_empty_folder, "folder holds no frame images"),
    (_good, None),
])
def test_check_media_names_the_cause(tmp_path, make, cause):
    assert check_media(make(tmp_path)) == cause


def test_check_media_takes_strings(tmp_path):
    assert check_media(str(tmp_path / "missing.mp4")) == "media file not found"


# -- placeholder frames --------------------------------------------------------------------------
@pytest.mark.parametrize("profile,multiple", [
    ("train", 28),
    ("eval", 28),
    ({"base": "train", "min_pixels": 128 * 32 * 32, "max_pixels": 128 * 32 * 32, "size_multiple": 32}, 32),
])
def test_placeholder_sides_are_multiples_of_the_profile(profile, multiple):
    frames = placeholder_frames(profile)
    assert frames.shape[1] % multiple == 0 and frames.shape[2] % multiple == 0


@pytest.mark.parametrize("profile", ["train", "eval"])
def test_placeholder_video_has_the_profile_frame_count_and_budget(profile):
    prof = resolve_profile(profile)
    frames = placeholder_frames(prof)
    assert frames.shape[0] == prof.nframes and frames.dtype == np.uint8 and frames.max() == 0
    assert frames.shape[1:3] == target_size(1080, 1080, prof)  # what a square HD clip gets


def test_placeholder_image_is_one_frame():
    assert placeholder_frames("train", "image").shape[0] == 1


@pytest.mark.parametrize("multiple,data_type,shape", [
    (28, "video", (2, 56, 56, 3)),
    (32, "video", (2, 64, 64, 3)),
    (28, "image", (1, 56, 56, 3)),
])
def test_minimal_placeholder_is_one_merged_token_per_frame_pair(multiple, data_type, shape):
    prof = {"base": "train", "size_multiple": multiple}
    assert placeholder_frames(prof, data_type, minimal=True).shape == shape


# -- NpyDiskStore ----------------------------------------------------------------------------------
def test_store_round_trip_with_metadata(tmp_path):
    store = NpyDiskStore(tmp_path / "store")
    store.save("clip|1|2|train", np.arange(6, dtype=np.uint8).reshape(2, 3), {"fps": 24.0})
    arr, meta = store.load("clip|1|2|train", with_meta=True)
    assert arr.tolist() == [[0, 1, 2], [3, 4, 5]] and meta == {"fps": 24.0}


def test_store_absent_key_is_none(tmp_path):
    assert NpyDiskStore(tmp_path).load("nothing") is None


def test_store_leaves_no_temporary_files(tmp_path):
    store = NpyDiskStore(tmp_path)
    store.save("k", np.zeros(3), {"a": 1})
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npy"]


def test_store_truncated_array_raises(tmp_path):
    store = NpyDiskStore(tmp_path)
    store.save("k", np.zeros(100))
    store.path("k").write_bytes(store.path("k").read_bytes()[:40])
    with pytest.raises(ValueError):
        store.load("k")


def test_store_metadata_of_another_key_is_a_miss(tmp_path):
    store = NpyDiskStore(tmp_path)
    store.save("k", np.zeros(3), {"a": 1})
    store.path("k").with_suffix(".json").write_text('{"_key": "other"}')
    assert store.load("k", with_meta=True) is None


# -- the clip writer -------------------------------------------------------------------------------
def test_written_clip_decodes_to_its_frames(tmp_path):
    import av

    path = write_clip(tmp_path / "n.mp4", numbered_frames(10))
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert read_numbers(np.stack(decoded)) == list(range(10))


def test_moving_frames_all_differ():
    frames = list(moving_frames(20, 64, 48))
    assert len({f.tobytes() for f in frames}) == 20


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_written_rotation_reads_back_clockwise(tmp_path, rotate):
    from verl_videorft.video import probe_video

    path = write_clip(tmp_path / "r.mp4", numbered_frames(4, 64, 48), rotate=rotate)
    assert probe_video(path)["rotation"] == rotate
