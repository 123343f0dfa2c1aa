"""End to end on CPU: a tiny Qwen2.5-VL over six small generated benchmarks, resume, CLI, vLLM requests."""

from __future__ import annotations

import json
import shutil

import pytest

from verl_videorft.cli import main as cli
from verl_videorft.evaluation.backends import GenerationConfig, HFBackend, Prepared, vllm_request
from verl_videorft.evaluation.benchmarks import BENCHMARKS, load_benchmark
from verl_videorft.evaluation.runner import read_results, run_eval
from verl_videorft.evaluation.scoring import score_sample
from verl_videorft.rollout.time_axis import grid_seconds
from verl_videorft.video import FrameProfile

# 4 frames of 112×84 (12·28·28 pixels): small enough for a fast CPU test, same code path as 32 × 256·28·28.
TINY = FrameProfile(nframes=4, min_pixels=12 * 28 * 28, max_pixels=12 * 28 * 28)
TINY_ARGS = ["--nframes", "4", "--min-pixels", str(12 * 28 * 28), "--max-pixels", str(12 * 28 * 28)]
GEN = GenerationConfig(temperature=0.0, max_new_tokens=6)

OPTS4 = ["A. red", "B. blue", "C. green", "D. yellow"]
# One or more records per benchmark, in the shapes of Video-R1's eval files.
RECORDS = {
    "vsibench": [
        {"problem": "How many chair(s) are in this room?", "problem_type": "numerical", "options": None,
         "solution": "<answer>3</answer>"},
        {"problem": "What is the length of the longest dimension (length, width, or height) of the table, "
                    "measured in centimeters?", "problem_type": "regression", "solution": "<answer>120</answer>"},
        {"problem": "If I stand by the sofa facing the TV, is the lamp to my left or right?",
         "problem_type": "multiple choice", "options": ["A. left", "B. right"], "solution": "<answer>A</answer>"},
    ],
    "videommmu": [
        {"problem": "What does the lecturer write first?", "problem_type": "multiple choice",
         "options": [f"{c}. option {c}" for c in "ABCDEFGHIJ"], "solution": "<answer>J</answer>"},
        # options already inside the problem text, no `options` key
        {"problem": "Which law is shown?\n(A) Ohm\n(B) Hooke\n", "problem_type": "multiple choice",
         "solution": "<answer>B</answer>"},
    ],
    "mmvu": [{"problem": "What color is the square?", "problem_type": "multiple choice", "options": OPTS4,
              "solution": "<answer>C</answer>"}],
    "mvbench": [{"problem": "What is the action performed?", "problem_type": "multiple choice",
                 "options": ["A. jumping", "B. sitting", "C. running"], "solution": "<answer>A</answer>"},
                {"problem": "Missing video?", "problem_type": "multiple choice", "options": OPTS4,
                 "solution": "<answer>A</answer>", "path": "./media/does_not_exist.mp4"}],
    "tempcompass": [{"problem": "Is the video played forward or in reverse?", "problem_type": "multiple choice",
                     "options": ["A. forward", "B. reverse"], "solution": "<answer>A</answer>"}],
    "videomme": [{"problem": "How many objects appear?", "problem_type": "multiple choice", "options": OPTS4,
                  "solution": "<answer>D</answer>"},
                 {"problem": "Broken record without a solution", "problem_type": "multiple choice",
                  "options": OPTS4}],
}
N_SAMPLES = sum(len(v) for v in RECORDS.values())


def write_benchmarks(data_dir, clip):
    """Six eval_<key>.json files whose records point at ./media/clip.mp4 (except the broken ones)."""
    (data_dir / "media").mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, data_dir / "media" / "clip.mp4")
    for key, recs in RECORDS.items():
        full = [{"problem_id": i + 1, "data_type": "video", "path": "./media/clip.mp4", "data_source": key, **r}
                for i, r in enumerate(recs)]
        (data_dir / f"eval_{key}.json").write_text(json.dumps(full, indent=1))
    return data_dir


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory, clip):
    return write_benchmarks(tmp_path_factory.mktemp("bench"), clip)


@pytest.fixture(scope="module")
def samples(bench_dir):
    return [s for key in BENCHMARKS for s in load_benchmark(bench_dir / f"eval_{key}.json")]


@pytest.fixture(scope="module")
def backend(tiny_qwen):
    return HFBackend(str(tiny_qwen), profile=TINY, gen=GEN, device="cpu")


class Crash(BaseException):
    """Stands for a kill: not an Exception, so nothing in the runner swallows it."""


class Wrap:
    """Passes through to the real backend; counts generated uids, optionally dies after N calls."""

    def __init__(self, inner, crash_after=None, poison=None):
        self.inner, self.crash_after, self.poison = inner, crash_after, poison
        self.name, self.generated, self.calls = inner.name, [], 0

    def prepare(self, sample):
        return self.inner.prepare(sample)

    def generate(self, batch):
        if self.crash_after is not None and self.calls >= self.crash_after:
            raise Crash()
        self.calls += 1
        if self.poison and any(p.uid == self.poison for p in batch):
            raise RuntimeError(f"CUDA error on {self.poison}")
        out = self.inner.generate(batch)
        self.generated += [p.uid for p in batch]
        return out


def test_six_benchmarks_end_to_end(samples, backend, tmp_path):
    out = tmp_path / "results.jsonl"
    rows = run_eval(samples, Wrap(backend), out, batch_size=3, progress=False, prepare_workers=2)
    assert len(rows) == N_SAMPLES and set(rows) == {s.uid for s in samples}
    assert {r["benchmark"] for r in rows.values()} == set(BENCHMARKS)
    failed = {uid: r["error"] for uid, r in rows.items() if r["status"] != "ok"}
    assert set(failed) == {"mvbench/1", "videomme/1"}  # each fails alone, its batch goes on
    assert "does_not_exist.mp4" in failed["mvbench/1"] and "'solution'" in failed["videomme/1"]
    for r in rows.values():
        if r["status"] == "ok":
            assert isinstance(r["output"], str)
            assert r["score"] == score_sample(r["output"], r["solution"], r["problem_type"])
    assert len(out.read_text().splitlines()) == N_SAMPLES


def test_failed_batch_is_retried_one_by_one(samples, backend, tmp_path):
    mmvu_and_more = [s for s in samples if s.benchmark in ("mmvu", "tempcompass", "vsibench")]
    wrap = Wrap(backend, poison="tempcompass/0")
    rows = run_eval(mmvu_and_more, wrap, tmp_path / "r.jsonl", batch_size=8, progress=False)
    assert rows["tempcompass/0"]["status"] == "error" and "CUDA error" in rows["tempcompass/0"]["error"]
    assert all(r["status"] == "ok" for uid, r in rows.items() if uid != "tempcompass/0")


def test_resume_after_crash_runs_only_missing(samples, backend, tmp_path):
    out = tmp_path / "results.jsonl"
    with pytest.raises(Crash):
        run_eval(samples, Wrap(backend, crash_after=2), out, batch_size=2, progress=False)
    first = read_results(out)
    assert 0 < len(first) < N_SAMPLES
    # the process died mid-write of a row: a torn last line must be ignored and its sample redone
    with out.open("a") as f:
        f.write('{"uid": "videomme/0", "status": "o')
    second = Wrap(backend)
    rows = run_eval(samples, second, out, batch_size=2, progress=False)
    expected_new = {s.uid for s in samples if s.uid not in first and s.error is None
                    and "does_not_exist" not in s.media_path}
    assert set(second.generated) == expected_new          # nothing done twice
    assert set(rows) == {s.uid for s in samples}
    lines = [json.loads(x) for x in out.read_text().splitlines() if x.startswith('{"uid"') and x.endswith("}")]
    assert len(lines) == N_SAMPLES and len({x["uid"] for x in lines}) == N_SAMPLES
    # a third run has nothing left to do
    third = Wrap(backend)
    run_eval(samples, third, out, batch_size=2, progress=False)
    assert third.generated == []


def test_resume_refuses_a_changed_benchmark_file(samples, backend, tmp_path):
    out = tmp_path / "results.jsonl"
    run_eval(samples[:1], Wrap(backend), out, progress=False)
    changed = [s for s in samples[:1]]
    changed[0] = type(changed[0])(**{**changed[0].__dict__, "problem_id": 999})
    with pytest.raises(ValueError, match="problem_id"):
        run_eval(changed, Wrap(backend), out, progress=False)


def test_hf_passes_sampled_fps_and_keeps_frame_size(samples, backend):
    p = backend.prepare(samples[0])
    assert p.frames.shape == (4, 84, 112, 3)
    inputs = backend.build_inputs([p])
    fps = p.meta["sample_fps"]
    assert inputs["second_per_grid_ts"][0] == pytest.approx(2 / fps)      # temporal patch 2 / sampled fps
    assert inputs["video_grid_thw"].tolist() == [[2, 84 // 14, 112 // 14]]  # no second resize


def test_batched_left_padding_matches_single(samples, backend):
    a, b = backend.prepare(samples[0]), backend.prepare(samples[3])   # different prompt lengths
    batched = backend.generate([a, b])
    assert backend.build_inputs([a, b])["attention_mask"][:, 0].tolist().count(0) == 1  # left-padded
    assert batched == [backend.generate([a])[0], backend.generate([b])[0]]


def test_vllm_request_shape(samples, backend):
    p: Prepared = backend.prepare(samples[0])
    req = vllm_request(p, TINY)
    assert req["prompt"] == p.prompt and req["prompt"].count("<|video_pad|>") == 1
    ((frames, meta),) = req["multi_modal_data"]["video"]
    assert frames is p.frames and frames.dtype.name == "uint8"
    # Qwen2.5-VL: the frames are already sampled, so the metadata indexes them 0..n-1 at the fps
    # that keeps their sampled rate, and vLLM 0.24 (which drops the tuple's metadata) gets it again
    # in mm_processor_kwargs (rollout/time_axis.py).
    assert meta["frames_indices"] == list(range(len(frames)))
    kwargs = req["mm_processor_kwargs"]
    assert (kwargs["do_resize"], kwargs["do_sample_frames"]) == (False, False)
    assert kwargs["video_metadata"] == [meta]
    # The HF processor vLLM runs, given this request, keeps the frames' grid (so the placeholder
    # count matches the features) and puts the frame groups on the sampled time grid.
    out = backend.processor(text=[req["prompt"]], videos=[frames], return_tensors="pt", **kwargs)
    assert out["video_grid_thw"].tolist() == [[2, 84 // 14, 112 // 14]]
    assert (out["input_ids"] == backend.processor.video_token_id).sum().item() == 2 * 6 * 8 // 4
    assert out["second_per_grid_ts"][0] == pytest.approx(grid_seconds(2 / p.meta["sample_fps"]))
    no_fps = vllm_request(p, FrameProfile(4, TINY.min_pixels, TINY.max_pixels, pass_fps=False))
    out2 = backend.processor(text=[req["prompt"]], videos=[frames], return_tensors="pt",
                             **no_fps["mm_processor_kwargs"])
    assert out2["second_per_grid_ts"][0] == pytest.approx(1.0)   # what training's processor call gives


def test_cli_run_resume_and_report(bench_dir, tiny_qwen, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--model", str(tiny_qwen), "--data-dir", str(bench_dir), "--benchmarks", "mmvu,vsibench",
            "--out", str(out), "--max-new-tokens", "4", "--temperature", "0", "--no-progress", *TINY_ARGS]
    assert cli(["eval", *base]) == 0
    md = capsys.readouterr().out
    assert "| **tiny-qwen25vl** (this run) |" in md and "| VideoRFT-7B (paper) |" in md
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"vsibench", "mmvu"} and summary["vsibench"]["n"] == 3
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    config = json.loads((out / "run_config.json").read_text())
    assert config["profile"]["nframes"] == 4 and config["generation"]["top_p"] == 0.001
    n_lines = len((out / "results.jsonl").read_text().splitlines())
    assert cli(["eval", *base]) == 0                     # resume: nothing left to do
    assert len((out / "results.jsonl").read_text().splitlines()) == n_lines == 4
    assert cli(["eval", *base, "--temperature", "0.7"]) == 2  # changed settings in the same folder
    assert "generation" in capsys.readouterr().err
    assert cli(["eval", "--out", str(out), "--report-only"]) == 0
    assert "tiny-qwen25vl" in (out / "report.md").read_text()


def test_cli_defaults_are_the_papers():
    import argparse

    from verl_videorft.cli.eval import add_parser
    from verl_videorft.evaluation.plan import eval_profile

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["eval", "--out", "x", "--model", "m"])
    assert (args.temperature, args.top_p, args.max_new_tokens, args.backend) == (0.1, 0.001, 1024, "hf")
    prof = eval_profile(args.profile, nframes=args.nframes, min_pixels=args.min_pixels, max_pixels=args.max_pixels,
                        pass_fps=not args.no_fps)
    assert (prof.nframes, prof.min_pixels, prof.max_pixels, prof.pass_fps) == (32, 256 * 28 * 28, 256 * 28 * 28, True)


def test_real_media_default_eval_profile(media_dir, tiny_qwen, tmp_path):
    """The paper's eval profile (32 frames at 256·28·28) on a real clip; a corrupt file is a listed failure."""
    recs = [{"problem_id": i, "problem": "What happens?", "data_type": "video", "problem_type": "multiple choice",
             "options": ["A. x", "B. y"], "solution": "<answer>A</answer>", "path": f"./{name}"}
            for i, name in enumerate(["flipping_a_pancake.mkv", "corrupted.mp4"])]
    f = tmp_path / "eval_mvbench.json"
    f.write_text(json.dumps(recs))
    samples = load_benchmark(f, media_root=media_dir)
    hf = HFBackend(str(tiny_qwen), gen=GenerationConfig(max_new_tokens=1), device="cpu")  # default: "eval"
    p = hf.prepare(samples[0])
    t, h, w, _ = p.frames.shape
    # Qwen's resize rounds each side to 28 (up, for this small clip): near the budget, not under it
    assert t == 32 and h % 28 == 0 and w % 28 == 0 and abs(h * w / (256 * 28 * 28) - 1) < 0.15
    assert hf.build_inputs([p])["video_grid_thw"].tolist() == [[16, h // 14, w // 14]]  # no second resize
    rows = run_eval(samples[1:], hf, tmp_path / "r.jsonl", progress=False)
    assert rows["mvbench/1"]["status"] == "error" and "corrupted.mp4" in rows["mvbench/1"]["error"]
