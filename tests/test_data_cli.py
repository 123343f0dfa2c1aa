"""``videorft data convert | validate | budget | precompute`` on real and broken media.

Bad input of every kind (one test per reported case) is in test_cli_errors.py."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest
from omegaconf import OmegaConf

from verl_videorft.cli import data as data_cli
from verl_videorft.cli import main as cli
from verl_videorft.data.budget import vision_tokens
from verl_videorft.data.dataset import VideoRFTDataset

GOOD = {"problem": "What happens?", "problem_type": "free-form", "solution": "<answer>x</answer>",
        "data_type": "video"}


def _jsonl(path, recs):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))
    return path


@pytest.mark.parametrize("cmd, extra", [
    ("convert", []),
    ("validate", []),
    ("budget", []),
    ("precompute", ["--frame-cache-dir", "/tmp/x"]),
    ("sft", ["-o", "x.parquet"]),
])
def test_add_parser_sets_func_on_each_subcommand(tmp_path, cmd, extra):
    parser = argparse.ArgumentParser(prog="videorft")
    data_cli.add_parser(parser.add_subparsers(dest="command"))
    records = _jsonl(tmp_path / "a.jsonl", [GOOD])
    args = parser.parse_args(["data", cmd, str(records), *extra])
    assert args.func is getattr(data_cli, f"cmd_{cmd}")


def test_convert_roundtrip_gives_same_samples(tmp_path, clip):
    shutil.copy(clip, tmp_path / "c.mp4")
    recs = [{**GOOD, "problem_id": 1, "path": "./c.mp4", "extra_key": [1, 2]},
            {**GOOD, "problem_id": "p2", "problem_type": "multiple choice", "options": ["A. a", "B. b"],
             "solution": "<answer>A</answer>", "path": "c.mp4"},
            {**GOOD, "problem_type": "bogus", "path": "c.mp4"}]
    src = _jsonl(tmp_path / "t.jsonl", recs)
    rc = cli(["data", "convert", str(src), "-o", str(tmp_path / "t.parquet"), "--quiet"])
    assert rc == 0
    cfg = OmegaConf.create({})
    a = VideoRFTDataset(data_files=str(src), tokenizer=None, processor=None, config=cfg)
    b = VideoRFTDataset(data_files=str(tmp_path / "t.parquet"), tokenizer=None, processor=None, config=cfg)
    assert len(b) == 2  # the bogus record is dropped at conversion
    for i in range(2):
        assert a[i]["raw_prompt"] == b[i]["raw_prompt"]
        assert a[i]["reward_model"] == b[i]["reward_model"]


def test_validate_names_each_bad_record_and_exits_1(tmp_path, media_dir, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    recs = [
        {**GOOD, "path": str(media_dir / "video_r1_example.mp4")},
        {**GOOD, "path": str(media_dir / "corrupted.mp4")},
        {**GOOD, "path": "missing.mp4"},
        {**GOOD, "path": "empty.mp4"},
        {**GOOD, "problem_type": "multiple-choice", "path": str(media_dir / "video_0.mov")},
        {k: v for k, v in GOOD.items() if k != "problem"} | {"path": "x.mp4"},
        "not json at all",
        {**GOOD, "path": str(media_dir / "video_90.mov")},
    ]
    src = _jsonl(tmp_path / "v.jsonl", recs)
    report = tmp_path / "bad.jsonl"
    rc = cli(["data", "validate", str(src), "--workers", "2", "--quiet", "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 1
    bad = [json.loads(line) for line in report.read_text().splitlines()]
    lines = sorted(int(p["where"].rsplit(":", 1)[1]) for p in bad)
    assert lines == [2, 3, 4, 5, 6, 7]
    assert f"{src}:2:" in out and "corrupt" in out
    assert f"{src}:3:" in out and f"{src}:5: unknown problem_type 'multiple-choice'" in out
    assert f"{src}:6: missing field 'problem'" in out and f"{src}:7: invalid JSON" in out
    good = _jsonl(tmp_path / "g.jsonl", [recs[0], recs[-1]])
    assert cli(["data", "validate", str(good), "--workers", "1", "--quiet"]) == 0


def test_budget_counts_tokens_lists_overlong_and_warns_on_profile_mismatch(tmp_path, clip, capsys):
    shutil.copy(clip, tmp_path / "c.mp4")
    src = _jsonl(tmp_path / "b.jsonl", [{**GOOD, "path": "c.mp4"}])
    rc = cli(["data", "budget", str(src), "--max-prompt-length", "100", "--workers", "1", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "b.jsonl:1:" in captured.out and "> max_prompt_length 100" in captured.out
    assert "train and eval frame profiles differ" in captured.err and "nframes 16 vs 32" in captured.err
    from verl_videorft.video import PROFILES, target_size

    # 320x240, 48 frames: 16 frames -> 8 temporal groups of (h/28)*(w/28) merged patches; 5 frames -> 4 -> 2
    # (a short clip keeps an even count of its frames, each sized for that count)
    h, w = target_size(240, 320, PROFILES["train"], 16)
    assert vision_tokens(240, 320, 48, PROFILES["train"]) == 8 * (h // 28) * (w // 28)
    h, w = target_size(240, 320, PROFILES["train"], 4)
    assert vision_tokens(240, 320, 5, PROFILES["train"]) == 2 * (h // 28) * (w // 28)
    rc = cli(["data", "budget", str(src), "--max-prompt-length", "100000", "--workers", "1",
                        "--quiet", "--eval-profile", "train"])
    captured = capsys.readouterr()
    assert rc == 0 and "differ" not in captured.err


def test_precompute_fills_disk_frame_cache(tmp_path, clip, monkeypatch):
    from verl_videorft.video import cache as frame_cache

    monkeypatch.setattr(frame_cache, "_GLOBAL", frame_cache._GLOBAL)  # --workers 1 runs in-process
    shutil.copy(clip, tmp_path / "c.mp4")
    src = _jsonl(tmp_path / "p.jsonl", [{**GOOD, "path": "c.mp4"}, {**GOOD, "path": "missing.mp4"}])
    cache = tmp_path / "cache"
    rc = cli(["data", "precompute", str(src), "--frame-cache-dir", str(cache), "--workers", "1",
                        "--quiet"])
    assert rc == 1  # the missing file is reported
    assert any(p.is_file() for p in cache.rglob("*"))
