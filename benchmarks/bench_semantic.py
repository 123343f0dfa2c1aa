"""Semantic reward for one group (8 completions, 16 frames): ours vs the released pattern.

    python benchmarks/bench_semantic.py            # last line: speedup=<x>   (target >= 10)

Ours: frame-embedding cache warm (the video was seen before in the run), the group's 8 think
texts encoded in one batch. Released pattern: for every completion, decode the 16 frames again,
encode all of them again, encode the one text. Same tiny random SigLIP, same clip, same run.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from verl_videorft.rewards.semantic import SemanticConfig, SemanticScorer, semantic_scores, think_text
from verl_videorft.testing import build_tiny_siglip
from verl_videorft.video import sample_frames

PROFILE = {"nframes": 16, "min_pixels": 128 * 28 * 28, "max_pixels": 128 * 28 * 28}
GROUP = [f"<think>The question asks about motion. Rollout {i}: the pattern shifts, a counter "
         f"ticks, hmm, colours stay fixed.</think><answer>{'ABCD'[i % 4]}</answer>" for i in range(8)]


def make_clip(path: Path) -> Path:
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30",
                    "-frames:v", "300", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)], check=True)
    return path


def released_pattern(scorer: SemanticScorer, clip: Path) -> list[float]:
    """Per completion: decode frames, encode every frame, encode its text, per-frame mean."""
    enc = scorer.encoder
    out = []
    for completion in GROUP:
        frames, _ = sample_frames(clip, PROFILE, cache=False)
        frame_emb = enc.encode_images(frames)
        text_emb = enc.encode_texts([think_text(completion)])
        out.append(float(semantic_scores(text_emb, frame_emb, aggregate="per_frame")[0]))
    return out


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_siglip(Path(tmp) / "tiny-siglip", image_size=96)
        clip = make_clip(Path(tmp) / "clip.mp4")
        scorer = SemanticScorer(SemanticConfig(encoder=str(model), frame_profile=PROFILE,
                                               aggregate="per_frame"))
        ours = scorer.score_group(GROUP, str(clip))  # warms the caches (first sight of the video)
        assert np.allclose(ours.scores, released_pattern(scorer, clip), atol=1e-5), "results differ"
        t_ours = best_of(lambda: scorer.score_group(GROUP, str(clip)))
        t_released = best_of(lambda: released_pattern(scorer, clip))
        print(f"encoder: tiny random SigLIP (96 px input); clip 640x360, 300 frames; "
              f"{len(GROUP)} completions x {PROFILE['nframes']} frames")
        print(f"released pattern (decode + encode all frames per completion): {t_released * 1e3:.1f} ms")
        print(f"ours (frame-embedding cache warm, texts in one batch):        {t_ours * 1e3:.1f} ms")
        print(f"speedup={t_released / t_ours:.1f}")


if __name__ == "__main__":
    main()
