"""Eval input preparation: video decode + prompt for a batch, 1 thread vs N threads (ratio, same run).

    .venv/bin/python benchmarks/eval_prepare.py [--clips 16] [--workers 4] [--profile eval]

Makes its own H.264 clips (ffmpeg), builds a tiny Qwen2.5-VL processor, and times
``runner.run_batch``'s preparation path with the frame cache off, so every sample decodes.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from verl_videorft.evaluation.backends import prepare_sample
from verl_videorft.evaluation.benchmarks import make_sample
from verl_videorft.video import resolve_profile


def _clip(path: Path, seconds: int = 10) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30",
                    "-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)], check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--profile", default="eval")
    args = ap.parse_args()

    from transformers import AutoProcessor

    from verl_videorft import video
    from verl_videorft.testing import build_tiny_qwen25vl

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        processor = AutoProcessor.from_pretrained(build_tiny_qwen25vl(tmp / "tiny"))
        clips = [_clip(tmp / f"c{i}.mp4") for i in range(args.clips)]
        record = {"problem": "What happens?", "problem_type": "multiple choice", "options": ["A. x", "B. y"],
                  "solution": "<answer>A</answer>", "data_type": "video"}
        samples = [make_sample({**record, "path": str(c)}, "mmvu", i, tmp) for i, c in enumerate(clips)]
        profile = resolve_profile(args.profile)
        original = video.sample_frames

        def uncached(path, prof="train", *, cache=True):  # measure decoding, not cache hits
            return original(path, prof, cache=False)

        import verl_videorft.evaluation.backends as backends

        backends.sample_frames = uncached
        prepare_sample(samples[0], processor, profile)  # warm-up: imports, decoder init
        timings = {}
        for workers in (1, args.workers):
            t0 = time.perf_counter()
            if workers == 1:
                [prepare_sample(s, processor, profile) for s in samples]
            else:
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(lambda s: prepare_sample(s, processor, profile), samples))
            timings[workers] = time.perf_counter() - t0
        base = timings[1]
        print(f"{args.clips} clips (640x360, 300 frames), profile {args.profile}: "
              f"1 thread {base:.2f}s ({args.clips / base:.1f} clips/s)")
        t = timings[args.workers]
        print(f"{args.workers} threads {t:.2f}s ({args.clips / t:.1f} clips/s): speedup x{base / t:.2f}")


if __name__ == "__main__":
    main()
