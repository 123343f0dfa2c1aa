#!/usr/bin/env python
"""Start-up time and memory of ``VideoRFTDataset`` on a synthetic 310K-record JSON file (RL-310K size).

Targets: start-up < 5 s and < 300 MB RSS added by building the dataset. The baseline, measured in
the same run, is what a naive loader does: ``json.load`` of the whole file (one dict per record).
Each measurement runs in a fresh interpreter so RSS figures do not mix.

    .venv/bin/python benchmarks/bench_dataset.py [--records 310000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_DATASET = r"""
import json, resource, sys, time
from omegaconf import OmegaConf
from verl_videorft.data.dataset import VideoRFTDataset
import random
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ds = VideoRFTDataset(data_files=sys.argv[1], tokenizer=None, processor=None,
                     config=OmegaConf.create({"videorft": {"check_media": False}}))
t1 = time.perf_counter()
rng = random.Random(0)
for _ in range(2000):
    ds[rng.randrange(len(ds))]
t2 = time.perf_counter()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": len(ds), "startup_s": t1 - t0, "getitem_us": (t2 - t1) / 2000 * 1e6,
                  "rss_import_mb": rss0 / 1024, "rss_total_mb": rss1 / 1024}))
"""

CHILD_BASELINE = r"""
import json, resource, sys, time
from omegaconf import OmegaConf
from verl_videorft.data.dataset import VideoRFTDataset  # same imports, so RSS deltas compare
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
records = json.load(open(sys.argv[1]))
t1 = time.perf_counter()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": len(records), "startup_s": t1 - t0, "rss_import_mb": rss0 / 1024,
                  "rss_total_mb": rss1 / 1024}))
"""


def make_file(path: Path, n: int) -> None:
    """RL-310K-like records: ~2/3 video, ~1/3 image, all five problem types, pretty-printed JSON."""
    types = ["multiple choice", "numerical", "OCR", "free-form", "regression"]
    with open(path, "w") as f:
        f.write("[\n")
        for i in range(n):
            video = i % 3 != 2
            rec = {"problem_id": i, "problem": f"In the clip, what happens to object {i % 97}? Explain carefully.",
                   "data_type": "video" if video else "image", "problem_type": types[i % 5],
                   "solution": "<answer>A</answer>", "data_source": "LLaVA-Video-178K" if video else "ArxivQA",
                   "path": (f"./LLaVA-Video-178K/videos/ytb_{i:08d}.mp4" if video else f"./ArxivQA/images/{i}.png")}
            if i % 5 == 0:
                rec["options"] = ["A. left", "B. right", "C. up", "D. down"]
            f.write(json.dumps(rec, indent=4))
            f.write(",\n" if i < n - 1 else "\n")
        f.write("]\n")


def run(code: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=310_000)
    ap.add_argument("--keep", default=None, help="directory to keep the synthetic file in")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench_dataset_"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "rl_synthetic.json"
    t = time.perf_counter()
    if not path.exists():
        make_file(path, args.records)
    print(f"synthetic file: {path} ({path.stat().st_size / 2**20:.0f} MiB, {args.records} records, "
          f"written in {time.perf_counter() - t:.1f} s)")
    base = run(CHILD_BASELINE, path)
    ours = run(CHILD_DATASET, path)
    assert ours["n"] == base["n"] == args.records, (ours["n"], base["n"])
    d_base = base["rss_total_mb"] - base["rss_import_mb"]
    d_ours = ours["rss_total_mb"] - ours["rss_import_mb"]
    print(f"baseline json.load      : {base['startup_s']:.2f} s, +{d_base:.0f} MB RSS")
    print(f"VideoRFTDataset         : {ours['startup_s']:.2f} s, +{d_ours:.0f} MB RSS "
          f"(after imports {ours['rss_import_mb']:.0f} MB, total {ours['rss_total_mb']:.0f} MB), "
          f"ds[i] {ours['getitem_us']:.0f} us")
    print(f"ratio start-up (ours / baseline): {ours['startup_s'] / base['startup_s']:.2f}")
    print(f"ratio added RSS (ours / baseline): {d_ours / max(d_base, 1e-9):.3f}")
    ok = ours["startup_s"] < 5 and d_ours < 300
    print(f"targets (start-up < 5 s, added RSS < 300 MB): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
