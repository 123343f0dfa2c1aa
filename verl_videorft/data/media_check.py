"""Media checks for the data tools, run in parallel worker processes.

:func:`check_media` decodes a file with a frame profile exactly as training will (so a corrupt
mp4, a text file renamed ``.mp4`` or a junk ``.png`` fail here, not in step 300); :func:`probe_media`
reads only the header for token budgets. Both return ``(path, error or None, info)`` and never raise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from verl_videorft.data.items import progress

MediaResult = tuple[str, "str | None", dict[str, Any]]


def init_worker(cache_dir: str | None = None, cache_mb: float | None = None) -> None:
    """Per-process setup: decord for qwen-vl-utils, and the frame cache when one is asked for."""
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    if cache_dir or cache_mb:
        from verl_videorft.video import configure_frame_cache

        kw: dict[str, Any] = {}
        if cache_mb:
            kw["max_bytes"] = int(cache_mb * 2**20)
        if cache_dir:
            kw["disk_dir"] = cache_dir
        configure_frame_cache(**kw)


def check_media(task: tuple[str, dict, int, bool]) -> MediaResult:
    """Decode ``(path, profile dict, min_frames, use_cache)``: ``(path, error or None, info)``."""
    path, profile, min_frames, use_cache = task
    from verl_videorft.video import IMAGE_EXTENSIONS, VideoDecodeError, sample_frames

    try:
        frames, meta = sample_frames(path, profile, cache=use_cache)
    except VideoDecodeError as e:
        return path, e.reason, {}
    except Exception as e:  # noqa: BLE001 - a validator reports, it does not crash
        return path, f"{type(e).__name__}: {e}", {}
    if frames.ndim != 4 or frames.shape[-1] != 3:
        return path, f"frames have shape {tuple(frames.shape)}, expected [T, H, W, 3]", {}
    info = {"frames": int(frames.shape[0]), "height": int(frames.shape[1]), "width": int(frames.shape[2]),
            "total_frames": int(meta.get("total_frames", 0)), "rotation": int(meta.get("rotation", 0)),
            "fps": meta.get("fps")}
    if info["rotation"] not in (0, 90, 180, 270):
        return path, f"unsupported rotation {info['rotation']} degrees", info
    if os.path.splitext(path)[1].lower() not in IMAGE_EXTENSIONS and info["total_frames"] < min_frames:
        return path, f"only {info['total_frames']} frames (need at least {min_frames})", info
    return path, None, info


def probe_media(path: str) -> MediaResult:
    """``(path, error, {"height", "width", "frames"})`` as displayed (rotation applied), from the header
    (an image, a video, or a folder of frames)."""
    from PIL import Image

    from verl_videorft.video import IMAGE_EXTENSIONS, frame_files, probe_video

    try:
        if os.path.isdir(path):
            frames = frame_files(path)
            if not frames:
                return path, "folder holds no frame images", {}
            with Image.open(frames[0]) as im:
                return path, None, {"height": im.height, "width": im.width, "frames": len(frames)}
        if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
            with Image.open(path) as im:
                return path, None, {"height": im.height, "width": im.width, "frames": 1}
        info = probe_video(path)
        return path, None, {"height": info["height"], "width": info["width"], "frames": max(info["frames"], 1)}
    except Exception as e:  # noqa: BLE001
        return path, f"{type(e).__name__}: {e}", {}


def run_parallel(fn: Callable[[Any], MediaResult], tasks: list, workers: int, desc: str, quiet: bool,
                 initargs: tuple = (None, None)) -> Iterator[MediaResult]:
    """``map(fn, tasks)`` over ``workers`` processes (in this process when 1), with a progress bar."""
    if workers <= 1 or len(tasks) <= 1:
        init_worker(*initargs)
        yield from progress(map(fn, tasks), total=len(tasks), desc=desc, quiet=quiet)
        return
    with ProcessPoolExecutor(workers, initializer=init_worker, initargs=initargs) as ex:
        yield from progress(ex.map(fn, tasks, chunksize=4), total=len(tasks), desc=desc, quiet=quiet)


def decode_errors(media: Iterable[str], profile: dict, *, min_frames: int = 2, workers: int = 1,
                  quiet: bool = True) -> dict[str, str]:
    """``{path: reason}`` for each media file that does not decode with ``profile`` (each file once)."""
    tasks = [(m, profile, min_frames, False) for m in dict.fromkeys(media)]
    return {path: err for path, err, _ in run_parallel(check_media, tasks, workers, "decode media", quiet) if err}
