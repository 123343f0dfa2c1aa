"""CoT pipeline speed on CPU with tiny models: records per second per stage, decodes per video.

    python benchmarks/bench_cot.py [--records 12] [--max-new-tokens 16] [--batch-size 4]

1. Each model stage through the real HF engine (tiny random Qwen2.5-VL), fed valid inputs from the
   scripted engine (the random model's own descriptions never validate); filter with a tiny SigLIP.
   Prints records/s per stage.
2. The whole pipeline (scripted engines) in this process: decodes per video across describe,
   revise and filter (target 1; a pipeline that decoded per stage would do 3).
Tiny random models: the numbers show the pipeline's overhead and scaling, not a real model's speed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from verl_videorft.cot import stages as st
from verl_videorft.cot.batch import attach_frames
from verl_videorft.cot.filtering import SemanticJudge, filter_stage
from verl_videorft.cot.frames import FrameSource
from verl_videorft.cot.hf_engine import HFEngine
from verl_videorft.cot.runner import CotJob, build, load_items
from verl_videorft.cot.scripted import ScriptedEngine
from verl_videorft.cot.settings import CotSettings, FilterSettings, GenSettings
from verl_videorft.data.demo_set import make_demo_data
from verl_videorft.testing import build_tiny_qwen25vl, build_tiny_siglip


def timed(fn, *args) -> tuple[list, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=12)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_cot_"))
    demo = make_demo_data(work / "demo", n_train=args.records, n_val=1, frames=24)["train"]
    qwen, siglip = build_tiny_qwen25vl(work / "qwen"), build_tiny_siglip(work / "siglip")
    gen = {s: GenSettings(max_new_tokens=args.max_new_tokens) for s in ("describe", "reason", "revise")}
    filt = FilterSettings(semantic_encoder=str(siglip), semantic_device="cpu", min_semantic=0.0)
    settings = CotSettings(frame_pixels=128 * 28 * 28, max_frames=16, batch_size=args.batch_size, gen=gen,
                           filter=filt, max_attempts=1)
    recs = [json.loads(line) for line in demo.read_text().splitlines()]
    scripted, hf = ScriptedEngine(recs), HFEngine(str(qwen), device="cpu")
    items = load_items([str(demo)], None)
    for it in items:
        it["rows"] = {}
    source = FrameSource(settings)
    _, decode_s = timed(attach_frames, items, source)
    n = len(items)
    print(f"{n} records, tiny Qwen2.5-VL (HF engine, CPU), {args.max_new_tokens} new tokens, batch {args.batch_size}")
    print(f"{'decode':>8}: {n / decode_s:8.2f} records/s  ({decode_s:.2f} s, {source.cache.stats()['misses']} decodes)")
    for stage, fn in (("describe", st.describe), ("reason", st.reason), ("revise", st.revise)):
        rows, secs = timed(lambda f=fn: [r for b in _batches(items, args.batch_size) for r in f(b, hf, settings)])
        print(f"{stage:>8}: {n / secs:8.2f} records/s  ({secs:.2f} s, "
              f"{sum(r['tokens_in'] for r in rows)} tokens in, {sum(r['tokens_out'] for r in rows)} out)")
        valid = [r for b in _batches(items, args.batch_size) for r in getattr(st, stage)(b, scripted, settings)]
        for it, row in zip(items, valid):  # the next stage gets well-formed input
            it["rows"][stage] = row
    judge = SemanticJudge(settings.filter)
    _, secs = timed(filter_stage, items, judge, settings)
    print(f"{'filter':>8}: {n / secs:8.2f} records/s  ({secs:.2f} s, tiny SigLIP)")

    out = work / "pipeline"
    stats = build(CotJob([str(demo)], out, settings=settings, progress=False),
                  engines=dict.fromkeys(("describe", "reason", "revise"), scripted))
    fr = stats["frames"]
    print(f"pipeline: {fr['decodes']} decodes for {fr['videos']} videos = {fr['decodes'] / fr['videos']:.2f} per video "
          f"across describe, revise, filter (target 1.00; decoding per stage: 3.00); "
          f"ratio {3 * fr['videos'] / max(1, fr['decodes']):.1f}x fewer decodes")


def _batches(items, n):
    for i in range(0, len(items), n):
        yield items[i:i + n]


if __name__ == "__main__":
    main()
