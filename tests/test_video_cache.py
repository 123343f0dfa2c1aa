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


def test_hit_miss_and_readonly(clip):
    cache = FrameCache(max_bytes=64 << 20)
    a, meta_a = sample_frames(clip, "train", cache=cache)
    b, meta_b = sample_frames(clip, "train", cache=cache)
    stats = cache.stats()
    assert (stats["misses"], stats["hits"], stats["entries"]) == (1, 1, 1)
    assert stats["bytes"] == a.nbytes
    assert np.array_equal(a, b) and meta_a == meta_b
    with pytest.raises(ValueError):
        b[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        b.setflags(write=True)  # a view of a read-only buffer cannot be made writable
    meta_b["frame_indices"].append(999)  # callers get copies of the metadata
    assert sample_frames(clip, "train", cache=cache)[1]["frame_indices"] == meta_a["frame_indices"]


def test_profiles_are_separate_entries(clip):
    cache = FrameCache(max_bytes=64 << 20)
    t, _ = sample_frames(clip, "train", cache=cache)
    e, _ = sample_frames(clip, "eval", cache=cache)
    assert t.shape[0] == 16 and e.shape[0] == 32
    assert cache.stats()["misses"] == 2


def test_key_follows_file_identity(tmp_path, clip):
    path = tmp_path / "v.mp4"
    path.write_bytes(Path(clip).read_bytes())
    key = file_key(path, "p")
    assert str(path.resolve()) in key and file_key(path, "q") != key
    cache = FrameCache(max_bytes=64 << 20)
    sample_frames(path, "train", cache=cache)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # "edited" file
    assert file_key(path, "p") != key
    sample_frames(path, "train", cache=cache)
    assert cache.stats()["misses"] == 2


def test_lru_eviction_by_bytes():
    cache = FrameCache(max_bytes=250)
    for k in "abc":
        cache.put(k, *entry(100))
    stats = cache.stats()
    assert (stats["entries"], stats["bytes"], stats["evictions"]) == (2, 200, 1)
    assert cache.get("a") is None  # oldest went first
    cache.get("b")  # b is now the most recent: adding d evicts c
    cache.put("d", *entry(100))
    assert cache.get("c") is None and cache.get("b") is not None
    assert cache.stats()["bytes"] <= 250


def test_oversized_entry_returned_not_stored():
    cache = FrameCache(max_bytes=50)
    cache.put("small", *entry(40))
    frames, _ = cache.get_or_compute("big", lambda: entry(100))
    assert frames.nbytes == 100 and not frames.flags.writeable
    assert cache.get("big") is None and cache.get("small") is not None  # small survived


def test_concurrent_misses_decode_once(clip):
    cache = FrameCache(max_bytes=64 << 20)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return entry(10, 7)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8
    assert all(r[1]["tag"] == 7 for r in results)
    # the real sampler under a GRPO-like group of 8 parallel reads
    group = []
    threads = [threading.Thread(target=lambda: group.append(sample_frames(clip, "train", cache=cache)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(group) == 8 and cache.stats()["misses"] == 2
    assert all(np.array_equal(group[0][0], g[0]) for g in group)


def test_failed_compute_is_not_cached():
    cache = FrameCache(max_bytes=1000)

    def boom():
        raise RuntimeError("decode failed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert cache.get_or_compute("k", lambda: entry(10))[0].nbytes == 10


def test_disk_tier_survives_processes(tmp_path, clip):
    disk = tmp_path / "frames"
    writer = FrameCache(max_bytes=64 << 20, disk_dir=disk)
    frames, meta = sample_frames(clip, "train", cache=writer)
    assert writer.stats()["disk_writes"] == 1
    assert len(list(disk.glob("*.npy"))) == 1 and len(list(disk.glob("*.json"))) == 1
    np.save(tmp_path / "ref.npy", frames)
    # a fresh process (no decoding there: it must find the entry on disk)
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
    # and this process, through the sampler, with a new cache object on the same folder
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


def test_decode_errors_are_remembered_per_file_version(tmp_path, clip):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    cache = FrameCache(max_bytes=64 << 20)
    for _ in range(3):
        with pytest.raises(VideoDecodeError, match=r"bad\.mp4: corrupt"):
            sample_frames(bad, "train", cache=cache)
    stats = cache.stats()
    assert (stats["misses"], stats["error_hits"], stats["entries"]) == (1, 2, 0)
    bad.write_bytes(Path(clip).read_bytes())  # the file gets fixed: new size and mtime, new key
    frames, _ = sample_frames(bad, "train", cache=cache)
    assert frames.shape[0] == 16 and cache.stats()["misses"] == 2
