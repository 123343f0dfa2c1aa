"""Video-R1 eval-format readers, the paper's Table 1, and the markdown/PNG report (no model)."""

from __future__ import annotations

import json

import pytest

from verl_videorft.evaluation.benchmarks import (
    BENCHMARKS,
    PAPER_TABLE1,
    find_benchmark_files,
    load_benchmark,
    resolve_benchmark_key,
)
from verl_videorft.evaluation.report import bar_chart, markdown_report, summarize
from verl_videorft.prompts import build_question

MC = {"problem_id": 7, "problem": "Which way does the ball move?", "data_type": "video",
      "problem_type": "multiple choice", "options": ["A. left", "B. right"], "solution": "<answer>B</answer>",
      "path": "./MMVU/videos/a.mp4", "data_source": "mmvu"}


def test_table1_is_the_papers():
    assert list(BENCHMARKS) == ["vsibench", "videommmu", "mmvu", "mvbench", "tempcompass", "videomme"]
    assert PAPER_TABLE1["VideoRFT-7B"] == {"vsibench": 36.8, "videommmu": 51.1, "mmvu": 68.5,
                                           "mvbench": 62.1, "tempcompass": 73.7, "videomme": 59.8}
    assert PAPER_TABLE1["Qwen2.5-VL-7B"]["vsibench"] == 31.8


@pytest.mark.parametrize("name", ["vsibench", "VSI-Bench", "eval_vsibench.json", "vsi_bench", "eval_vsibench.jsonl"])
def test_resolve_benchmark_key(name):
    assert resolve_benchmark_key(name) == "vsibench"


def test_resolve_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark 'egoschema'"):
        resolve_benchmark_key("egoschema")


def test_reader_builds_paper_prompt_and_paths(tmp_path):
    f = tmp_path / "eval_mmvu.json"
    f.write_text(json.dumps([MC]))
    (s,) = load_benchmark(f)
    assert (s.uid, s.benchmark, s.problem_id, s.error) == ("mmvu/0", "mmvu", 7, None)
    assert s.question == build_question(MC)
    assert "Which way does the ball move?Options:\nA. left\nB. right\n" in s.question
    assert s.media_path == str(tmp_path / "MMVU" / "videos" / "a.mp4")
    (s2,) = load_benchmark(f, media_root="/data/videos")
    assert s2.media_path == "/data/videos/MMVU/videos/a.mp4"


def test_reader_jsonl_and_data_wrapper(tmp_path):
    f = tmp_path / "eval_mvbench.jsonl"
    f.write_text(json.dumps(MC) + "\n\n" + json.dumps({**MC, "problem_id": 8}) + "\n")
    assert [s.problem_id for s in load_benchmark(f)] == [7, 8]
    g = tmp_path / "tempcompass.json"
    g.write_text(json.dumps({"data": [MC]}))
    assert load_benchmark(g, "tempcompass", limit=1)[0].uid == "tempcompass/0"


def test_bad_records_fail_alone_and_name_the_field(tmp_path):
    f = tmp_path / "eval_videomme.json"
    bad_type = {**MC, "problem_type": "Multiple Choice"}
    no_solution = {k: v for k, v in MC.items() if k != "solution"}
    f.write_text(json.dumps([MC, no_solution, bad_type, "junk", {**MC, "data_type": "audio"}]))
    samples = load_benchmark(f)
    assert samples[0].error is None
    assert "eval_videomme.json[1]" in samples[1].error and "'solution'" in samples[1].error
    assert "problem_type" in samples[2].error
    assert "not an object" in samples[3].error
    assert "data_type" in samples[4].error


def test_unreadable_file_names_it(tmp_path):
    f = tmp_path / "eval_mmvu.json"
    f.write_text("[{")
    with pytest.raises(ValueError, match="eval_mmvu.json"):
        load_benchmark(f)
    g = tmp_path / "eval_vsibench.jsonl"
    g.write_text(json.dumps(MC) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"eval_vsibench.jsonl:2"):
        load_benchmark(g)


def test_find_benchmark_files(tmp_path):
    (tmp_path / "eval_mmvu.json").write_text("[]")
    assert find_benchmark_files(tmp_path) == {"mmvu": tmp_path / "eval_mmvu.json"}
    with pytest.raises(FileNotFoundError, match="eval_vsibench.json"):
        find_benchmark_files(tmp_path, ["mmvu", "vsibench"])


def _rows():
    return [
        {"uid": "vsibench/0", "benchmark": "vsibench", "problem_type": "regression", "status": "ok", "score": 0.5},
        {"uid": "vsibench/1", "benchmark": "vsibench", "problem_type": "multiple choice", "status": "ok", "score": 1.0},
        {"uid": "vsibench/2", "benchmark": "vsibench", "problem_type": "numerical", "status": "error", "score": 0.0,
         "path": "/v/missing.mp4", "error": "VideoDecodeError: /v/missing.mp4: file not found"},
        {"uid": "mmvu/0", "benchmark": "mmvu", "problem_type": "multiple choice", "status": "ok", "score": 1.0},
    ]


def test_summary_and_markdown():
    summary = summarize(_rows())
    v = summary["vsibench"]
    assert (v["n"], v["failed"]) == (3, 1)
    assert v["score"] == pytest.approx(50.0)      # (0.5 + 1 + 0) / 3
    assert v["acc"] == pytest.approx(50.0) and v["mra"] == pytest.approx(50.0)
    md = markdown_report(summary, model="ckpt-100")
    lines = md.splitlines()
    assert lines[0].startswith("| model | VSI-Bench | VideoMMMU | MMVU |")
    assert "| VideoRFT-7B (paper) | 36.8 | 51.1 | 68.5 | 62.1 | 73.7 | 59.8 |" in lines
    assert "| **ckpt-100** (this run) | **50.0** | – | **100.0** | – | – | – |" in lines
    assert "`vsibench/2` `/v/missing.mp4`: VideoDecodeError" in md


def test_bar_chart_png(tmp_path):
    import matplotlib.image as mpimg

    out = bar_chart(summarize(_rows()), tmp_path / "plots" / "scores.png", model="ckpt-100")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = mpimg.imread(out).shape[:2]
    assert w > 600 and h > 300


def test_prompt_styles(tmp_path):
    f = tmp_path / "eval_mmvu.json"
    num = {**MC, "problem_type": "numerical", "options": None, "solution": "<answer>3</answer>"}
    f.write_text(json.dumps([MC, num]))
    paper = load_benchmark(f)
    released = load_benchmark(f, prompt_style="released")
    assert paper[0].question == build_question(MC)
    mc = released[0].question
    assert "A. left\nB. right\n\nPlease think" in mc
    assert "between the <think> and </think> tags" in mc and "between the <answer> and </answer> tags" in mc
    assert mc.endswith(" Please provide only the single option letter (e.g., A, B, C, D, etc.) "
                       "within the <answer> </answer> tags.")   # the type suffix is the same
    assert released[1].question == paper[1].question.replace("<think> </think> tags", "<think> and </think> tags") \
        .replace("between the <answer> </answer>", "between the <answer> and </answer>")
    with pytest.raises(ValueError, match="prompt style"):
        load_benchmark(f, prompt_style="fancy")


def test_cli_benchmark_file_selection(tmp_path):
    import argparse

    from verl_videorft.cli.eval import _benchmark_files, add_parser

    for key in ("mmvu", "vsibench"):
        (tmp_path / f"eval_{key}.json").write_text("[]")
    own = tmp_path / "my_mvbench.json"
    own.write_text("[]")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())

    def files(*argv):
        return _benchmark_files(parser.parse_args(["eval", "--out", "o", *argv]))

    assert set(files("--data-dir", str(tmp_path))) == {"mmvu", "vsibench"}
    only_vsi = files("--data-dir", str(tmp_path), "--benchmarks", "VSI-Bench")
    assert only_vsi == {"vsibench": tmp_path / "eval_vsibench.json"}
    assert files("--bench-file", f"mvbench={own}") == {"mvbench": own}
    assert set(files("--data-dir", str(tmp_path), "--bench-file", f"mvbench={own}")) == {"mmvu", "vsibench", "mvbench"}
    with pytest.raises(SystemExit, match="file not found"):
        files("--bench-file", f"mvbench={tmp_path / 'nope.json'}")
    with pytest.raises(FileNotFoundError, match="eval_tempcompass.json"):
        files("--data-dir", str(tmp_path), "--benchmarks", "tempcompass")
