"""Video-R1 eval-format readers, the paper's Table 1, and the markdown/PNG report (no model)."""

from __future__ import annotations

import json

import pytest

from verl_videorft.errors import UsageError
from verl_videorft.evaluation.benchmarks import (
    find_benchmark_files,
    load_benchmark,
    resolve_benchmark_key,
)
from verl_videorft.evaluation.report import bar_chart, markdown_report, summarize

MC = {"problem_id": 7, "problem": "Which way does the ball move?", "data_type": "video",
      "problem_type": "multiple choice", "options": ["A. left", "B. right"], "solution": "<answer>B</answer>",
      "path": "./MMVU/videos/a.mp4", "data_source": "mmvu"}
FRAME = {"problem_id": 9, "problem": "What did he do next?", "data_type": "frame", "problem_type": "multiple choice",
         "options": ["A. sat", "B. left"], "solution": "<answer>A</answer>", "fps": 3, "start": 1.0, "end": 9.5,
         "path": "./MVBench/video/tvqa/frames_fps3_hq/clip_01", "data_source": "MVBench"}
EVAL_TAGS = ("between the <think> and </think> tags, and then give your final answer "
             "between the <answer> and </answer> tags.")


def _write(path, records, indent=2):
    path.write_text(json.dumps(records, indent=indent))
    return path


@pytest.mark.parametrize("name", ["vsibench", "VSI-Bench", "eval_vsibench.json", "vsi_bench", "eval_vsibench.jsonl"])
def test_resolve_benchmark_key(name):
    assert resolve_benchmark_key(name) == "vsibench"


def test_resolve_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark 'egoschema'"):
        resolve_benchmark_key("egoschema")


def test_reader_resolves_ids(tmp_path):
    (s,) = load_benchmark(_write(tmp_path / "eval_mmvu.json", [MC]))
    assert (s.uid, s.benchmark, s.problem_id, s.error) == ("mmvu/0", "mmvu", 7, None)


@pytest.mark.parametrize("media_root, expected", [
    (None, "{tmp}/MMVU/videos/a.mp4"),          # default: the JSON file's folder
    ("/data/videos", "/data/videos/MMVU/videos/a.mp4"),
])
def test_reader_media_paths(tmp_path, media_root, expected):
    (s,) = load_benchmark(_write(tmp_path / "eval_mmvu.json", [MC]), media_root=media_root)
    assert s.media_path == expected.format(tmp=tmp_path)


@pytest.mark.parametrize("style, question_head", [
    ("videorft", "Which way does the ball move?\nA. left\nB. right\n\nPlease think"),
    ("video_r1", "Which way does the ball move?Options:\nA. left\nB. right\n\nPlease think"),
])
def test_prompt_style_builds_the_eval_prompt(tmp_path, style, question_head):
    (s,) = load_benchmark(_write(tmp_path / "eval_mmvu.json", [MC]), prompt_style=style)
    assert s.question.startswith(question_head) and EVAL_TAGS in s.question


def test_default_prompt_style_is_videorft(tmp_path):
    (s,) = load_benchmark(_write(tmp_path / "eval_mmvu.json", [MC]))
    assert s.question.startswith("Which way does the ball move?\nA. left\n")


@pytest.mark.parametrize("style", ["paper", "released", "fancy"])
def test_unknown_prompt_style_is_refused(tmp_path, style):
    with pytest.raises(ValueError, match="prompt style"):
        load_benchmark(_write(tmp_path / "eval_mmvu.json", [MC]), prompt_style=style)


def test_reader_reads_jsonl(tmp_path):
    f = tmp_path / "eval_mvbench.jsonl"
    f.write_text(json.dumps(MC) + "\n\n" + json.dumps({**MC, "problem_id": 8}) + "\n")
    assert [s.problem_id for s in load_benchmark(f)] == [7, 8]


def test_reader_limit(tmp_path):
    samples = load_benchmark(_write(tmp_path / "tempcompass.json", [MC, MC, MC]), "tempcompass", limit=1)
    assert [s.uid for s in samples] == ["tempcompass/0"]


@pytest.mark.parametrize("bad, message", [
    ({k: v for k, v in MC.items() if k != "solution"}, "'solution'"),
    ({**MC, "problem_type": "Multiple Choice"}, "problem_type"),
    ({**MC, "data_type": "audio"}, "data_type"),
    ({**MC, "options": "A. left"}, "'options'"),
    (["junk"], "record is list"),
])
def test_bad_record_fails_alone_naming_file_line_and_field(tmp_path, bad, message):
    f = _write(tmp_path / "eval_videomme.json", [MC, bad, MC], indent=None)
    f.write_text(f.read_text().replace("}, ", "},\n"))    # one record a line: record 1 is on line 2
    samples = load_benchmark(f)
    assert [s.error is None for s in samples] == [True, False, True]
    assert "eval_videomme.json:2" in samples[1].error and message in samples[1].error


def test_unbalanced_file_names_it(tmp_path):
    f = tmp_path / "eval_mmvu.json"
    f.write_text("[{")
    with pytest.raises(ValueError, match="eval_mmvu.json"):
        load_benchmark(f)


def test_bad_jsonl_line_fails_alone_naming_it(tmp_path):
    g = tmp_path / "eval_vsibench.jsonl"
    g.write_text(json.dumps(MC) + "\n{oops\n")
    samples = load_benchmark(g)
    assert samples[0].error is None and "eval_vsibench.jsonl:2" in samples[1].error


@pytest.mark.parametrize("frame_records, data_type, media, fps", [
    ("frames", "frame", "{tmp}/MVBench/video/tvqa/frames_fps3_hq/clip_01", 3.0),
    ("no_video", "none", "", None),     # the released eval: the model gets the text alone
])
def test_frame_records(tmp_path, frame_records, data_type, media, fps):
    (s,) = load_benchmark(_write(tmp_path / "eval_mvbench.json", [FRAME]), frame_records=frame_records)
    assert (s.error, s.data_type, s.media_path, s.fps) == (None, data_type, media.format(tmp=tmp_path), fps)


@pytest.mark.parametrize("fps, expected", [(3, 3.0), (2.5, 2.5), (None, None), ("3", None), (0, None), (True, None)])
def test_frame_record_fps(tmp_path, fps, expected):
    (s,) = load_benchmark(_write(tmp_path / "eval_mvbench.json", [{**FRAME, "fps": fps}]))
    assert s.fps == expected


def test_frame_records_mode_is_checked(tmp_path):
    with pytest.raises(ValueError, match="frame_records"):
        load_benchmark(_write(tmp_path / "eval_mvbench.json", [FRAME]), frame_records="skip")


def test_find_benchmark_files(tmp_path):
    (tmp_path / "eval_mmvu.json").write_text("[]")
    assert find_benchmark_files(tmp_path) == {"mmvu": tmp_path / "eval_mmvu.json"}


def test_find_benchmark_files_names_the_missing_one(tmp_path):
    (tmp_path / "eval_mmvu.json").write_text("[]")
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


@pytest.mark.parametrize("field, expected", [
    ("n", 3),
    ("failed", 1),
    ("score", pytest.approx(50.0)),  # (0.5 + 1 + 0) / 3
    ("acc", pytest.approx(50.0)),
    ("mra", pytest.approx(50.0)),
])
def test_summary_of_a_benchmark(field, expected):
    assert summarize(_rows())["vsibench"][field] == expected


@pytest.mark.parametrize("line", [
    "| VideoRFT-7B (paper) | 36.8 | 51.1 | 68.5 | 62.1 | 73.7 | 59.8 |",
    "| **ckpt-100** (this run) | **50.0** | – | **100.0** | – | – | – |",
])
def test_markdown_report_rows(line):
    assert line in markdown_report(summarize(_rows()), model="ckpt-100").splitlines()


def test_markdown_report_header_lists_the_benchmarks_in_table_order():
    header = markdown_report(summarize(_rows()), model="ckpt-100").splitlines()[0]
    assert header.startswith("| model | VSI-Bench | VideoMMMU | MMVU |")


def test_markdown_report_names_failed_samples():
    assert "`vsibench/2` `/v/missing.mp4`: VideoDecodeError" in markdown_report(summarize(_rows()), model="m")


def test_bar_chart_png(tmp_path):
    import matplotlib.image as mpimg

    out = bar_chart(summarize(_rows()), tmp_path / "plots" / "scores.png", model="ckpt-100")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h, w = mpimg.imread(out).shape[:2]
    assert w > 600 and h > 300


@pytest.fixture
def cli_files(tmp_path):
    """``videorft eval`` argument parsing → benchmark files, over a folder with two eval files."""
    import argparse

    from verl_videorft.cli.eval import add_parser
    from verl_videorft.evaluation.plan import benchmark_files

    for name in ("eval_mmvu.json", "eval_vsibench.json", "my_mvbench.json"):
        (tmp_path / name).write_text("[]")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())

    def files(*argv):
        argv = [a.format(d=tmp_path) for a in argv]
        args = parser.parse_args(["eval", "--out", "o", *argv])
        found = benchmark_files(args.data_dir, args.bench_file, args.benchmarks)
        return {k: v.name for k, v in found.items()}

    return files


@pytest.mark.parametrize("argv, expected", [
    (["--data-dir", "{d}"], {"mmvu": "eval_mmvu.json", "vsibench": "eval_vsibench.json"}),
    (["--data-dir", "{d}", "--benchmarks", "VSI-Bench"], {"vsibench": "eval_vsibench.json"}),
    (["--bench-file", "mvbench={d}/my_mvbench.json"], {"mvbench": "my_mvbench.json"}),
    (["--data-dir", "{d}", "--bench-file", "mvbench={d}/my_mvbench.json"],
     {"mmvu": "eval_mmvu.json", "vsibench": "eval_vsibench.json", "mvbench": "my_mvbench.json"}),
])
def test_cli_benchmark_file_selection(cli_files, argv, expected):
    assert cli_files(*argv) == expected


@pytest.mark.parametrize("argv, error, message", [
    (["--bench-file", "mvbench={d}/nope.json"], UsageError, "file not found"),
    (["--data-dir", "{d}", "--benchmarks", "tempcompass"], UsageError, "eval_tempcompass.json"),
])
def test_cli_benchmark_file_errors(cli_files, argv, error, message):
    with pytest.raises(error, match=message):
        cli_files(*argv)


class _EchoProcessor:
    """Stands in for the HF processor: renders the messages as their repr."""

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return repr(messages)


def _frame_folder(folder, n=12):
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(1, n + 1):  # MVBench TVQA names frames 00001.jpg, 00002.jpg, ...
        Image.new("RGB", (64, 48), (i * 20, 0, 0)).save(folder / f"{i:05d}.jpg")


def test_frame_record_is_read_as_a_video_at_the_record_fps(tmp_path):
    from verl_videorft.evaluation.backends import prepare_sample

    _frame_folder(tmp_path / "MVBench/video/tvqa/frames_fps3_hq/clip_01")
    (s,) = load_benchmark(_write(tmp_path / "eval_mvbench.json", [FRAME]))
    prepared = prepare_sample(s, _EchoProcessor(), {"base": "eval", "nframes": 4})
    assert (prepared.data_type, len(prepared.frames), prepared.meta["fps"], prepared.meta["total_frames"]) == \
        ("video", 4, 3.0, 12)


def _no_video_sample(tmp_path):
    from verl_videorft.evaluation.backends import prepare_sample

    (s,) = load_benchmark(_write(tmp_path / "eval_mvbench.json", [FRAME]), frame_records="no_video")
    return s, prepare_sample(s, _EchoProcessor(), "eval")


def test_frame_record_without_video_is_the_text_alone(tmp_path):
    s, prepared = _no_video_sample(tmp_path)
    assert prepared.prompt == repr([{"role": "user", "content": [{"type": "text", "text": s.question}]}])


def test_frame_record_without_video_sends_vllm_no_media(tmp_path):
    from verl_videorft.evaluation.backends import vllm_request

    _, prepared = _no_video_sample(tmp_path)
    assert vllm_request(prepared, None) == {"prompt": prepared.prompt}
