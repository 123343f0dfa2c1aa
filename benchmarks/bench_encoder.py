"""Throughput of a SigLIP-so400m-sized encoder (random weights, nothing downloaded): frames/s and texts/s.

    python benchmarks/bench_encoder.py --frames 8 --texts 16 --threads 2
    # last line: frames_per_s=<x> texts_per_s=<y> device=cpu threads=2 dtype=float32

so400m-patch14-384's shapes: both towers hidden 1152, MLP 4304, 27 layers, 16 heads; vision patch 14
at 384 px (729 patches a frame); text 64 tokens (SigLIP pads to max length). This is what the
semantic encoder actor does per video (one pass over the frames, cached afterwards) and per sample
(one think text). Use it to size ``reward.videorft.semantic.ray_actor``: on CPU the actor runs
``num_cpus`` threads, so pass ``--threads`` = the cores you would reserve.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16)


def build_so400m(dtype: torch.dtype, device: str):
    from transformers import SiglipConfig, SiglipModel

    config = SiglipConfig(
        text_config={**SO400M, "max_position_embeddings": 64, "vocab_size": 32000},
        vision_config={**SO400M, "patch_size": 14, "image_size": 384},
    )
    return SiglipModel(config).eval().to(device=device, dtype=dtype)


def rate(fn, items: int, repeats: int) -> float:
    """Items per second, best of ``repeats`` (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return items / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames per image batch (one video's worth)")
    parser.add_argument("--texts", type=int, default=16, help="texts per text batch")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads on CPU")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model = build_so400m(dtype, args.device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"so400m-sized SigLIP: {params:.0f}M parameters, {args.device}, {args.dtype}, {args.threads} threads")
    pixels = torch.randn(args.frames, 3, 384, 384, dtype=dtype, device=args.device)
    ids = torch.randint(0, 32000, (args.texts, 64), device=args.device)

    with torch.inference_mode():
        frames_per_s = rate(lambda: model.get_image_features(pixel_values=pixels), args.frames, args.repeats)
        print(f"frames: {frames_per_s:.2f}/s ({1000 / frames_per_s:.0f} ms a frame, batch {args.frames})")
        texts_per_s = rate(lambda: model.get_text_features(input_ids=ids), args.texts, args.repeats)
        print(f"texts: {texts_per_s:.2f}/s ({1000 / texts_per_s:.0f} ms a text, batch {args.texts})")
    print(f"frames_per_s={frames_per_s:.2f} texts_per_s={texts_per_s:.2f} device={args.device} "
          f"threads={args.threads} dtype={args.dtype}")


if __name__ == "__main__":
    main()
