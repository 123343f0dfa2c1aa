"""Frame sampler speed vs ``qwen_vl_utils.fetch_video`` (the reader Video-R1/VideoRFT use).

Same clips, same frame count (``nframes=`` in the fetch_video element), same frame size (the
released cap, ``video_max_pixels``), fetch_video on decord (``FORCE_QWENVL_VIDEO_READER=decord``, as
the Makefile exports).
Both sides get a warm OS page cache (one untimed read first).

- cold: one uncached ``sample_frames(path, profile, cache=False)`` vs one ``fetch_video``.
- group: one GRPO group = 8 reads of one video: a fresh ``FrameCache`` (1 decode + 7 hits) vs
  8 × ``fetch_video`` (what a reader without a cache does).
- ours decodes a long clip as keyframe-aligned stretches side by side (``VIDEORFT_DECODE_WORKERS``,
  default the cores); fetch_video runs as its users run it (decord's default FFmpeg threads).
- Each round runs every contender once, in turn; a contender's time is its best round, so load
  from other processes on a shared machine hits all of them alike.

A line gives the share of the clips' frames each reader decoded (decord, from its seek rule; PyAV,
counted) next to the limit: the sampled frames and the reference frames they depend on. The summary
ratios are geometric means over the clips. The LAST line is ``cold=<x> group=<y>`` (wall clock); the
line before gives the same ratios in CPU time.

    python benchmarks/bench_video.py [--profile train|eval] [--repeats 3] [--no-media]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

import numpy as np  # noqa: E402

from verl_videorft.video import (  # noqa: E402
    FrameCache,
    backend_order,
    resolve_profile,
    sample_frames,
    video_max_pixels,
)
from verl_videorft.video.parallel import decode_workers  # noqa: E402
from verl_videorft.video.writer import moving_frames, write_clip  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
MEDIA_CLIPS = ["video_r1_example.mp4", "flipping_a_pancake.mkv", "CATER_new_003595.gif"]
GROUP = 8


def upscaled(path: Path, n: int, width: int = 1280, height: int = 720):
    """The first ``n`` frames of a real clip scaled to ``width``×``height`` (looped if shorter)."""
    import av

    done = 0
    while done < n:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
                done += 1
                if done == n:
                    return


def make_720p(folder: Path, seconds: int = 15, fps: int = 30) -> Path:
    """A 1280×720 H.264 clip like a typical LLaVA-Video source: real footage (Video-R1's example
    clip, upscaled) when ../shared/media is there, else a generated moving texture."""
    frames = (upscaled(MEDIA / MEDIA_CLIPS[0], seconds * fps) if MEDIA.is_dir()
              else moving_frames(seconds * fps, 1280, 720))
    return write_clip(folder / "gen_1280x720.mp4", frames, fps=fps, options={"preset": "veryfast"})


def dependency_limit(path: Path, indices: list[int]) -> int:
    """Frames any decoder must decode to output ``indices``: each wanted frame plus every reference
    frame of its GOP decoded before it (decode order). Reference frames are the ones a full decode
    with ``skip_frame=NONREF`` still outputs (closed GOPs assumed)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe) for p in container.demux(stream) if p.size and p.pts is not None]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        refs = {f.pts for f in container.decode(stream)}
    display = sorted(pts for pts, _ in packets)
    wanted = {display[i] for i in indices}
    needed: set[int] = set()
    gop_refs: list[int] = []
    for pts, key in packets:
        if key:
            gop_refs = []
        if pts in wanted:
            needed.add(pts)
            needed.update(gop_refs)
        if pts in refs:
            gop_refs.append(pts)
    return len(needed)


def decoded_counts(path: Path, prof) -> dict[str, int]:
    """Frames each reader decoded for the profile's frames (decord: from its seek rule, it has no
    counter; PyAV: counted), and the dependency limit."""
    out = {}
    for name in ("decord", "pyav"):
        _, meta = with_backend(name, lambda: sample_frames(path, prof, cache=False))()
        out[name] = meta.get("decoded_frames", 0)
    out["limit"] = dependency_limit(path, meta["frame_indices"])
    return out


def interleaved(fns: dict, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall and CPU time of each function over rounds in which every function runs once.

    The order rotates each round: load from other processes falls on all alike, and no contender
    always runs right after torch (whose OpenMP threads keep spinning for a while after an op).
    CPU time (all threads of this process) is the work done; it is steadier than wall time on a
    shared machine but hides multi-threading.
    """
    wall, cpu = dict.fromkeys(fns, math.inf), dict.fromkeys(fns, math.inf)
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            w0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            wall[name] = min(wall[name], time.perf_counter() - w0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    return wall, cpu


def with_backend(name: str, fn):
    def run():
        old = os.environ.get("VIDEORFT_VIDEO_BACKEND")
        os.environ["VIDEORFT_VIDEO_BACKEND"] = name
        try:
            return fn()
        finally:
            if old is None:
                os.environ.pop("VIDEORFT_VIDEO_BACKEND")
            else:
                os.environ["VIDEORFT_VIDEO_BACKEND"] = old
    return run


def fetch(path: Path, prof) -> np.ndarray:
    from qwen_vl_utils import fetch_video

    # the installed qwen-vl-utils caps max_pixels at what it is given: give it the released cap
    video = fetch_video({"type": "video", "video": str(path), "nframes": prof.nframes,
                         "min_pixels": prof.min_pixels, "max_pixels": video_max_pixels(prof)},
                        image_patch_size=prof.size_multiple // 2)
    return video  # float tensor [T, C, H, W]


def ours_group(path: Path, prof) -> np.ndarray:
    cache = FrameCache(max_bytes=1 << 30)
    for _ in range(GROUP):
        frames, _ = sample_frames(path, prof, cache=cache)
    return frames


def fetch_group(path: Path, prof):
    for _ in range(GROUP):
        video = fetch(path, prof)
    return video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="train")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-media", action="store_true", help="only the generated 720p clip")
    args = ap.parse_args()
    prof = resolve_profile(args.profile)

    tmp = Path(tempfile.mkdtemp(prefix="bench_video_"))
    clips = [] if args.no_media or not MEDIA.is_dir() else [MEDIA / c for c in MEDIA_CLIPS]
    clips.append(make_720p(tmp))
    print(f"profile {args.profile}: {prof.to_dict()}; best of {args.repeats}; group = {GROUP} reads; "
          f"decode workers {decode_workers()} (VIDEORFT_DECODE_WORKERS)")
    head = (f"{'clip':<24}{'out size':>9}{'frames':>7}{'fetch ms':>9}{'decord':>8}{'pyav':>8}"
            f"{'ours':>8}{'cold x':>7}{'grp fetch':>10}{'grp ours':>9}{'group x':>8}{'|diff|':>7}"
            f"{'decoded d/p/lim':>17}")
    print(head)
    print("-" * len(head))
    cold, group, cold_w, group_w = [], [], [], []
    work = {"decord": 0, "pyav": 0, "limit": 0, "total": 0}
    for path in clips:
        frames, meta = sample_frames(path, prof, cache=False)  # untimed: page cache, imports
        try:
            ref = fetch(path, prof)
        except Exception as err:  # noqa: BLE001 - e.g. fetch_video cannot read GIF with decord
            print(f"{path.name:<24} fetch_video failed ({type(err).__name__}); ours "
                  f"({meta['backend']}) gives {frames.shape}: not counted")
            continue
        ref_u8 = ref.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        if ref_u8.shape != frames.shape:
            raise SystemExit(f"{path.name}: shapes differ: fetch_video {ref_u8.shape} vs ours {frames.shape}")
        diff = float(np.abs(ref_u8.astype(np.int16) - frames).mean())
        cold_t, cold_cpu = interleaved({
            "fetch": lambda path=path: fetch(path, prof),
            "decord": with_backend("decord", lambda path=path: sample_frames(path, prof, cache=False)),
            "pyav": with_backend("pyav", lambda path=path: sample_frames(path, prof, cache=False)),
        }, args.repeats)
        default = backend_order()[0]
        cold_t["ours"] = cold_t[default]
        group_t, group_cpu = interleaved({"fetch": lambda path=path: fetch_group(path, prof),
                                          "ours": lambda path=path: ours_group(path, prof)}, args.repeats)
        cold.append(cold_t["fetch"] / cold_t["ours"])
        group.append(group_t["fetch"] / group_t["ours"])
        cold_w.append(cold_cpu["fetch"] / cold_cpu[default])
        group_w.append(group_cpu["fetch"] / group_cpu["ours"])
        counts = decoded_counts(path, prof)
        for k, v in counts.items():
            work[k] += v
        work["total"] += meta["total_frames"]
        size = f"{meta['width']}x{meta['height']}"
        dec = f"{counts['decord']}/{counts['pyav']}/{counts['limit']}"
        ms = {k: f"{v * 1e3:.0f}" for k, v in cold_t.items()}
        print(f"{path.name:<24}{size:>9}{meta['total_frames']:>7}{ms['fetch']:>9}{ms['decord']:>8}"
              f"{ms['pyav']:>8}{ms['ours']:>8}{cold[-1]:>7.2f}{group_t['fetch'] * 1e3:>10.0f}"
              f"{group_t['ours'] * 1e3:>9.0f}{group[-1]:>8.1f}{diff:>7.2f}{dec:>17}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not cold:
        raise SystemExit("no clip could be compared")
    gmean = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))  # noqa: E731
    print(f"ours = the default decoder ({backend_order()[0]}); decord / pyav = each forced first; "
          "out size = frame size (same as fetch_video's); |diff| = mean absolute difference of our "
          "uint8 frames from fetch_video's (swscale bicubic in the decoder vs torchvision bicubic); "
          "decoded = frames decoded by decord (from its seek rule) / PyAV (counted) / the limit (the sampled "
          "frames and the reference frames they depend on)")
    share = {k: 100 * work[k] / work["total"] for k in ("decord", "pyav", "limit")}
    print(f"decoded share of the clips' frames: decord={share['decord']:.0f}% pyav={share['pyav']:.0f}% "
          f"limit={share['limit']:.0f}% ({work['total']} frames in all)")
    print(f"CPU-time ratios (work done, steadier under load): cold={gmean(cold_w):.2f} "
          f"group={gmean(group_w):.1f}")
    print(f"cold={gmean(cold):.2f} group={gmean(group):.1f}")


if __name__ == "__main__":
    main()
