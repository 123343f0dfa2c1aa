"""FrameCache: decode once, read-only results, LRU by bytes, file identity, disk tier, threads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from verl_videorft.video import PROFILES, VideoDecodeError, configure_frame_cache, get_frame_cache, sample_frames
from verl_videorft.video.cache import FrameCache, file_key

REPO = Path(__file__).resolve().parents[1]


def entry(nbytes: int, tag: int = 0):
    return np.full(nbytes, tag, np.uint8), {"tag": tag, "frame_indices": [0, 1]}


def test_second_read_is_a_hit_with_the_same_result(clip):
    cache = FrameCache(max_bytes=64 << 20)
    a, meta_a = sample_frames(clip, "train", cache=cache)
    b, meta_b = sample_frames(clip, "train", cache=cache)
    stats = cache.stats()
    assert (stats["misses"], stats["hits"], stats["entries"], stats["bytes"]) == (1, 1, 1, a.nbytes)
    assert np.array_equal(a, b) and meta_a == meta_b


def _write_pixel(frames):
    frames[0, 0, 0, 0] = 1


def _make_writable(frames):
    frames.setflags(write=True)  # a view of a read-only buffer cannot be made writable


@pytest.mark.parametrize("mutate", [
    _write_pixel,
    _make_writable,
])
def test_cached_frames_cannot_be_changed(clip, mutate):
    cache = FrameCache(max_bytes=64 << 20)
    sample_frames(clip, "train", cache=cache)
    with pytest.raises(ValueError):
        mutate(sample_frames(clip, "train", cache=cache)[0])


def test_callers_get_copies_of_the_metadata(clip):
    cache = FrameCache(max_bytes=64 << 20)
    expected = list(sample_frames(clip, "train", cache=cache)[1]["frame_indices"])
    sample_frames(clip, "train", cache=cache)[1]["frame_indices"].append(999)
    assert sample_frames(clip, "train", cache=cache)[1]["frame_indices"] == expected


def test_profiles_are_separate_entries(clip):
    cache = FrameCache(max_bytes=64 << 20)
    t, _ = sample_frames(clip, "train", cache=cache)
    e, _ = sample_frames(clip, "eval", cache=cache)
    assert t.shape[0] == 16 and e.shape[0] == 32
    assert cache.stats()["misses"] == 2


def test_file_key_holds_the_path_and_the_profile(tmp_path, clip):
    path = tmp_path / "v.mp4"
    path.write_bytes(Path(clip).read_bytes())
    key = file_key(path, "p")
    assert str(path.resolve()) in key and file_key(path, "q") != key


def test_edited_file_is_a_new_entry(tmp_path, clip):
    path = tmp_path / "v.mp4"
    path.write_bytes(Path(clip).read_bytes())
    cache = FrameCache(max_bytes=64 << 20)
    sample_frames(path, "train", cache=cache)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # "edited" file
    sample_frames(path, "train", cache=cache)
    assert cache.stats()["misses"] == 2


def test_lru_evicts_the_oldest_by_bytes():
    cache = FrameCache(max_bytes=250)
    for k in "abc":
        cache.put(k, *entry(100))
    stats = cache.stats()
    assert (stats["entries"], stats["bytes"], stats["evictions"]) == (2, 200, 1)
    assert cache.get("a") is None


def test_lru_get_refreshes_an_entry():
    cache = FrameCache(max_bytes=250)
    for k in "bc":
        cache.put(k, *entry(100))
    cache.get("b")  # b is now the most recent: adding d evicts c
    cache.put("d", *entry(100))
    assert (cache.get("c") is None, cache.get("b") is not None, cache.stats()["bytes"]) == (True, True, 200)


def test_oversized_entry_returned_not_stored():
    cache = FrameCache(max_bytes=50)
    cache.put("small", *entry(40))
    frames, _ = cache.get_or_compute("big", lambda: entry(100))
    assert frames.nbytes == 100 and not frames.flags.writeable
    assert cache.get("big") is None and cache.get("small") is not None  # small survived


def _in_threads(n: int, call) -> list:
    results = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_misses_compute_once():
    cache = FrameCache(max_bytes=64 << 20)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return entry(10, 7)

    results = _in_threads(8, lambda: cache.get_or_compute("k", slow))
    assert (len(calls), [r[1]["tag"] for r in results]) == (1, [7] * 8)


def test_a_group_of_parallel_reads_decodes_once(clip):
    """The real sampler under a GRPO-like group of 8 parallel reads."""
    cache = FrameCache(max_bytes=64 << 20)
    group = _in_threads(8, lambda: sample_frames(clip, "train", cache=cache))
    assert len(group) == 8 and cache.stats()["misses"] == 1
    assert all(np.array_equal(group[0][0], g[0]) for g in group)


def test_failed_compute_is_not_cached():
    cache = FrameCache(max_bytes=1000)

    def boom():
        raise RuntimeError("decode failed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert cache.get_or_compute("k", lambda: entry(10))[0].nbytes == 10


@pytest.fixture()
def on_disk(tmp_path, clip):
    """A disk tier holding the clip's train frames: (folder, frames, metadata)."""
    disk = tmp_path / "frames"
    writer = FrameCache(max_bytes=64 << 20, disk_dir=disk)
    frames, meta = sample_frames(clip, "train", cache=writer)
    return disk, frames, meta, writer


def test_disk_tier_writes_one_array_and_its_metadata(on_disk):
    disk, _, _, writer = on_disk
    assert writer.stats()["disk_writes"] == 1
    assert (len(list(disk.glob("*.npy"))), len(list(disk.glob("*.json")))) == (1, 1)


def test_disk_tier_serves_a_fresh_process(on_disk, tmp_path, clip):
    disk, frames, meta, _ = on_disk
    np.save(tmp_path / "ref.npy", frames)
    # no decoding there: it must find the entry on disk
    code = ("import sys, numpy as np; from verl_videorft.video.cache import FrameCache, file_key;"
            "from verl_videorft.video import PROFILES;"
            "c = FrameCache(1 << 26, sys.argv[2]);"
            "hit = c.get(file_key(sys.argv[1], PROFILES['train'].cache_key()));"
            "assert hit is not None and c.stats()['disk_hits'] == 1;"
            "assert np.array_equal(hit[0], np.load(sys.argv[3])) and not hit[0].flags.writeable;"
            "assert hit[1]['frame_indices'] == list(map(int, sys.argv[4].split(',')))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code, str(clip), str(disk), str(tmp_path / "ref.npy"),
                    ",".join(map(str, meta["frame_indices"]))], check=True, env=env)


def test_disk_tier_serves_a_new_cache_through_the_sampler(on_disk, clip):
    disk, frames, meta, _ = on_disk
    cache = FrameCache(max_bytes=64 << 20, disk_dir=disk)
    again, again_meta = sample_frames(clip, "train", cache=cache)
    assert (cache.stats()["disk_hits"], cache.stats()["misses"]) == (1, 0)
    assert np.array_equal(again, frames) and again_meta == meta


def test_disk_tier_half_written_entry_is_a_miss(tmp_path):
    cache = FrameCache(max_bytes=1000, disk_dir=tmp_path)
    cache.put("k", *entry(10))
    npy = next(tmp_path.glob("*.npy"))
    npy.write_bytes(npy.read_bytes()[:20])  # a crash mid-write
    assert FrameCache(max_bytes=1000, disk_dir=tmp_path).get("k") is None


def test_process_wide_cache(clip):
    old = get_frame_cache()
    try:
        cache = configure_frame_cache(max_bytes=32 << 20)
        assert get_frame_cache() is cache and cache.max_bytes == 32 << 20
        sample_frames(clip, PROFILES["train"])
        sample_frames(clip, PROFILES["train"])
        assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1
    finally:
        configure_frame_cache(old.max_bytes, old.disk_dir)


def test_decode_errors_are_remembered(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    cache = FrameCache(max_bytes=64 << 20)
    for _ in range(3):
        with pytest.raises(VideoDecodeError, match=r"bad\.mp4: corrupt"):
            sample_frames(bad, "train", cache=cache)
    stats = cache.stats()
    assert (stats["misses"], stats["error_hits"], stats["entries"]) == (1, 2, 0)


def test_a_fixed_file_is_decoded_again(tmp_path, clip):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    cache = FrameCache(max_bytes=64 << 20)
    with pytest.raises(VideoDecodeError):
        sample_frames(bad, "train", cache=cache)
    bad.write_bytes(Path(clip).read_bytes())  # the file gets fixed: new size and mtime, new key
    frames, _ = sample_frames(bad, "train", cache=cache)
    assert frames.shape[0] == 16 and cache.stats()["misses"] == 2
