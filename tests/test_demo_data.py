"""data/make_demo_data.py: deterministic, all five problem types, images mixed in, valid media."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def make(repo_root):
    return __import__("verl_videorft.data.demo_set", fromlist=["x"]).make_demo_data


def test_demo_data_types_determinism_and_answers(make, tmp_path):
    from verl_videorft.cli.data import main as cli
    from verl_videorft.video import sample_frames

    a = make(tmp_path / "a", n_train=12, n_val=3, seed=3)
    b = make(tmp_path / "b", n_train=12, n_val=3, seed=3)
    recs = [json.loads(line) for line in a["train"].read_text().splitlines()]
    assert a["train"].read_text() == b["train"].read_text()
    assert (tmp_path / "a/videos/train-0000.mp4").read_bytes() == (tmp_path / "b/videos/train-0000.mp4").read_bytes()
    assert {r["problem_type"] for r in recs if r["data_type"] == "video"} == {
        "numerical", "multiple choice", "OCR", "free-form", "regression"}
    assert sum(r["data_type"] == "image" for r in recs) == 2
    for r in recs:
        assert r["solution"].startswith("<answer>") and r["process"].startswith("<think>")
        assert r["path"].startswith("./")
    assert cli(["data", "validate", str(a["train"]), str(a["val"]), "--workers", "1", "--quiet"]) == 0

    # the numerical answer is the number of distinct colours visible in the first frame
    rec = next(r for r in recs if r["problem_type"] == "numerical" and r["data_type"] == "video")
    frames, _ = sample_frames(tmp_path / "a" / rec["path"], {"base": "train", "nframes": 2}, cache=False)
    palette = {(220, 40, 40), (40, 80, 230), (40, 180, 60), (235, 210, 40), (150, 60, 200)}
    px = frames[0].reshape(-1, 3).astype(int)
    seen = sum(bool((np.abs(px - c).sum(1) < 60).sum() > 30) for c in palette)
    assert str(seen) in rec["solution"]


def test_demo_data_parquet(make, tmp_path):
    paths = make(tmp_path, n_train=4, n_val=2, parquet=True)
    import pyarrow.parquet as pq

    assert pq.read_table(paths["train_parquet"]).num_rows == 4
