"""Decoders behind :func:`verl_videorft.video.sample_frames`: PyAV first, decord second.

Order: ``VIDEORFT_VIDEO_BACKEND`` (``pyav`` default, or ``decord``, the paper's reader) first, the
other one when it fails; both failing means the file is corrupt (the error names both reasons).

- PyAV (:mod:`verl_videorft.video.pyav_reader`) decodes only what the sampled frames need (seeks over
  whole GOPs, skips non-reference frames), with frames bit-identical to a full decode; it also
  reads GIFs and files without a frame count in the header, which decord cannot.
- decord decodes with its own FFmpeg, every frame from the keyframe before each wanted one; a PyAV
  probe of the first frame gives the display size.

Either splits a long clip at keyframes into stretches decoded side by side, one reader each
(``VIDEORFT_DECODE_WORKERS``, default the CPU cores): the same frames, bit for bit. Each reports
``decoded_frames`` (PyAV counts them; decord's follow from its seek rule).

Both resize inside the decoder (FFmpeg's swscale, bicubic) straight to Qwen's ``smart_resize``
size, so a 1280×720 frame is never converted to full-size RGB, and both honour the container's
rotation (decord 0.6.0 rotates itself; PyAV frames are turned with ``np.rot90``).

    >>> frames, meta = read_video(Path("clip.mp4"), PROFILES["train"])   # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from verl_videorft.video import pyav_reader as vp
from verl_videorft.video.parallel import MIN_SEGMENT_FRAMES, decode_workers, shared_pool, split_at_keyframes
from verl_videorft.video.profiles import FrameProfile, TooFewFrames, VideoDecodeError, target_size, uniform_indices

logger = logging.getLogger(__name__)

# PyAV: it decodes only the sampled frames and what they depend on (half of decord's frames on
# the benchmark clips with B-frames) and measured faster (benchmarks/bench_video.py prints both);
# decord, the paper's reader, stays the fallback and VIDEORFT_VIDEO_BACKEND=decord.
DEFAULT_BACKEND = "pyav"


def backend_order() -> list[str]:
    """Decoders to try, in order: ``VIDEORFT_VIDEO_BACKEND`` (``pyav`` | ``decord``, default
    ``DEFAULT_BACKEND``) first, then the other one; decord only when it is importable."""
    first = os.environ.get("VIDEORFT_VIDEO_BACKEND", DEFAULT_BACKEND).strip().lower()
    if first not in ("pyav", "decord"):
        raise ValueError(f"VIDEORFT_VIDEO_BACKEND must be 'pyav' or 'decord', got {first!r}")
    order = [first, "decord" if first == "pyav" else "pyav"]
    try:
        import decord  # noqa: F401
    except ImportError:
        order.remove("decord")
    return order

Decoded = tuple[np.ndarray, dict[str, Any]]


def first_line(err: BaseException, limit: int = 160) -> str:
    """decord's messages carry C++ source locations and a backtrace; keep the gist."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+?\.(cc|h):\d+: ", "", text)
    return f"{type(err).__name__}: {text[:limit]}" if text else type(err).__name__


def frame_meta(fps: float, total: int, indices: list[int], backend: str, rotation: int,
               decoded: int | None = None) -> dict[str, Any]:
    """The metadata every reader returns; ``decoded`` = frames the decoder produced, when known."""
    meta = {
        "fps": float(fps),
        "total_frames": int(total),
        "frame_indices": [int(i) for i in indices],
        # frames per second of video time, as qwen_vl_utils computes it
        "sample_fps": float(len(indices) / max(total, 1e-6) * fps) if fps else 0.0,
        "backend": backend,
        "rotation": int(rotation),
    }
    if decoded is not None:
        meta["decoded_frames"] = int(decoded)
    return meta


def decord_decoded_count(unique: list[int], keyframes: list[int]) -> int:
    """Frames decord decodes to return the sorted ``unique`` indices with one reader.

    decord (0.6.0, ``VideoReader::SeekAccurate``) decodes forward when the next wanted frame lies
    ahead in the GOP it is in, else seeks to the keyframe before it and decodes from there; it
    decodes every frame on the way (no skipping of non-reference frames). It has no counter, so
    this follows that rule.

        >>> decord_decoded_count([0, 30, 60, 90], [0, 50])   # 0..30 in GOP 0, then 50..90
        72
    """
    count, cur = 0, -1
    for pos in unique:
        k = bisect.bisect_right(keyframes, pos) - 1
        key = keyframes[k] if k >= 0 else 0
        count += pos - cur if key <= cur < pos else pos - key + 1
        cur = pos
    return count


def read_video(path: Path, profile: FrameProfile) -> Decoded:
    """Uniform frames of ``path`` for ``profile``; raises :class:`VideoDecodeError`."""
    readers = {"decord": _read_decord, "pyav": _read_pyav}
    decode_workers()  # a bad VIDEORFT_DECODE_WORKERS is a config error, not a decoder failure
    errors: list[str] = []
    for name in backend_order():
        try:
            return readers[name](path, profile)
        except TooFewFrames as err:  # a fact about the clip: the other decoder counts the same
            raise VideoDecodeError(path, str(err)) from None
        except Exception as err:  # noqa: BLE001 - any failure means: try the other decoder
            reason = (err.reason if isinstance(err, VideoDecodeError)
                      else str(err) if isinstance(err, vp.NoVideoStream) else first_line(err))
            errors.append(f"{name}: {reason}")
            logger.debug("%s failed on %s: %s", name, path, err)
    raise VideoDecodeError(path, "corrupt or unsupported video (" + "; ".join(errors) + ")")


# -- decord ------------------------------------------------------------------------------------
def probe_video(path: str | Path) -> dict[str, int]:
    """``{height, width, rotation, frames}`` as displayed, from the container header and the first
    frame only (``frames`` is the header's count or a duration × rate estimate; 0 when unknown)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"  # frame threads would buffer several frames before the first
        frames = int(stream.frames or 0)
        if not frames and stream.duration and stream.average_rate:
            frames = int(float(stream.duration * stream.time_base) * float(stream.average_rate))
        if not frames and container.duration and stream.average_rate:
            frames = int(container.duration / 1e6 * float(stream.average_rate))
        rotation = 0
        for frame in container.decode(stream):
            rotation = vp.clockwise(frame)
            break
        h, w = stream.codec_context.height, stream.codec_context.width
    if rotation in (90, 270):
        h, w = w, h
    return {"height": h, "width": w, "rotation": rotation, "frames": frames}


def _read_decord(path: Path, profile: FrameProfile) -> Decoded:
    import decord

    probe = probe_video(path)
    height, width, rotation = probe["height"], probe["width"], probe["rotation"]
    th, tw = target_size(height, width, profile)
    workers = decode_workers()

    def reader(threads: int) -> Any:
        # width/height make decord's FFmpeg filter graph scale while decoding (display orientation)
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=tw, height=th,
                                  num_threads=threads)

    # several readers each decode one stretch single-threaded (FFmpeg's frame threads cost ~15%
    # more CPU for the same frames); one reader gets FFmpeg's own threads (0 = auto)
    vr = reader(1 if workers > 1 else 0)
    total, fps = len(vr), vr.get_avg_fps()
    if total < 1:
        raise RuntimeError("decord reports no frames")
    indices = uniform_indices(total, profile.nframes)
    unique = sorted(set(indices))
    keyframes = [int(k) for k in vr.get_key_indices()]
    runs = split_at_keyframes(unique, keyframes, workers) if workers > 1 else [unique]
    if len(runs) == 1:
        if workers > 1 and unique[-1] >= MIN_SEGMENT_FRAMES:
            vr = reader(0)  # one long GOP: worth a second open to get FFmpeg's threads
        batch = vr.get_batch(unique).asnumpy()
    else:
        # decord releases the GIL while decoding: the other runs go to the pool, the first one
        # decodes on this thread with the reader already open
        later = [shared_pool(workers - 1).submit(lambda r: reader(1).get_batch(r).asnumpy(), run)
                 for run in runs[1:]]
        batch = np.concatenate([vr.get_batch(runs[0]).asnumpy()] + [f.result() for f in later])
    if batch.shape[1:3] != (th, tw):
        raise RuntimeError(f"decord returned {batch.shape[1:3]} instead of {(th, tw)}")
    decoded = sum(decord_decoded_count(run, keyframes) for run in runs)
    return np.ascontiguousarray(batch), frame_meta(fps, total, indices, "decord", rotation, decoded)


# -- PyAV --------------------------------------------------------------------------------------
def _read_pyav(path: Path, profile: FrameProfile) -> Decoded:
    import av

    size_fn = lambda h, w: target_size(h, w, profile)  # noqa: E731
    with av.open(str(path)) as container:  # indexed, then decoded from: one open
        index = vp.packet_index(container)
        if index is not None:
            pts, keyframes, fps = index
            if not pts:
                raise VideoDecodeError(path, "no video frames")
            indices = uniform_indices(len(pts), profile.nframes)
            try:
                sparse = _read_sparse_runs(path, container, indices, pts, keyframes, size_fn)
            except Exception as err:  # noqa: BLE001 - e.g. a demuxer that cannot seek
                logger.debug("sparse PyAV decode failed on %s: %s", path, err)
                sparse = None
            if sparse is not None:
                kept, rotation, decoded = sparse
                frames = np.stack([kept[i] for i in indices])
                return frames, frame_meta(fps, len(pts), indices, "pyav", rotation, decoded)
    # no usable timestamps, or they did not match the decoded frames: count by decoding
    total = len(index[0]) if index else _count_frames(path)
    if total < 1:
        raise VideoDecodeError(path, "no video frames")
    indices = uniform_indices(total, profile.nframes)
    kept, decoded, fps, rotation = vp.read_sequential(path, set(indices), size_fn)
    work = decoded
    if len(kept) < len(indices):
        # fewer decodable frames than packets: resample over what actually decodes
        if decoded < 1:
            raise VideoDecodeError(path, "no decodable video frames")
        total, indices = decoded, uniform_indices(decoded, profile.nframes)
        kept, decoded, fps, rotation = vp.read_sequential(path, set(indices), size_fn)
        work += decoded
    frames = np.stack([kept[i] for i in indices])
    return frames, frame_meta(fps, total, indices, "pyav", rotation, work)


def _read_sparse_runs(path: Path, container: Any, indices: list[int], pts: list[int], keyframes: list[int],
                      size_fn: vp.SizeFn) -> tuple[dict[int, np.ndarray], int, int] | None:
    """:func:`~verl_videorft.video.pyav_reader.read_sparse`, split at keyframes over
    ``decode_workers()`` readers like the decord reader (PyAV releases the GIL while decoding
    too); ``None`` if any run is. The first run decodes from ``container`` (already open)."""
    runs = split_at_keyframes(sorted(set(indices)), keyframes, decode_workers())
    if len(runs) == 1:
        return vp.read_sparse(container, indices, pts, keyframes, size_fn)
    later = [shared_pool(len(runs) - 1).submit(vp.read_sparse, path, run, pts, keyframes, size_fn,
                                         threads=False) for run in runs[1:]]
    results = [vp.read_sparse(container, runs[0], pts, keyframes, size_fn, threads=False)]
    results += [f.result() for f in later]
    if any(r is None for r in results):
        return None
    got: dict[int, np.ndarray] = {}
    for frames, _, _ in results:
        got.update(frames)
    return got, results[0][1], sum(r[2] for r in results)


def _count_frames(path: Path) -> int:
    """Frame count by decoding (streams without timestamps)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))

