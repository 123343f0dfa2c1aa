"""``videorft eval``: run the paper's six benchmarks on a checkpoint, resumable, with a report.

    videorft eval --model Qwen/Qwen2.5-VL-7B-Instruct --data-dir Evaluation/ --backend vllm --out runs/q7b
    videorft eval --model ckpt/ --bench-file mmvu=my/eval_mmvu.json --media-root /videos --backend hf
    videorft eval --out runs/q7b --report-only          # rebuild report.md / scores.png from results

``--data-dir`` holds Video-R1's ``eval_<benchmark>.json`` files; ``path`` in each record is relative
to ``--media-root`` (default: the JSON file's folder). The output folder gets ``results.jsonl`` (one
line per sample, appended as it goes; rerunning the same command resumes), ``run_config.json``,
``summary.json``, ``report.md`` and ``scores.png``. Defaults are the paper's: 32 frames at 256·28·28
pixels, temperature 0.1, top_p 0.001, 1024 new tokens, the sampled fps passed to the processor.
One run per output folder at a time (a second one stops, naming the first one's pid); a benchmark
file that cannot be read is reported and the others still run (exit code 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verl_videorft.cli.args import (
    debug_parent,
    existing_dir,
    float_in,
    frame_profile,
    int_at_least,
    model_path,
    ray_arguments,
    ray_options,
)
from verl_videorft.errors import UsageError
from verl_videorft.evaluation.benchmarks import BENCHMARKS, FRAME_RECORD_MODES
from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, PROMPT_STYLES


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``eval`` command to a ``videorft`` subparsers object; sets ``func``."""
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on VSI-Bench, VideoMMMU, MMVU, MVBench, "
                                           "TempCompass, VideoMME", description=__doc__, parents=[debug_parent()],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    for add_group in (data_arguments, model_arguments, frame_arguments, decoding_arguments, output_arguments):
        add_group(p)
    p.set_defaults(func=main)
    return p


def data_arguments(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data")
    data.add_argument("--data-dir", type=existing_dir, help="folder with eval_<benchmark>.json files")
    data.add_argument("--bench-file", action="append", default=[], metavar="KEY=PATH",
                      help=f"an explicit benchmark file (repeatable); KEY in {list(BENCHMARKS)}, or a name of "
                           "your own for your own benchmark")
    data.add_argument("--benchmarks", help="comma-separated subset (default: all found)")
    data.add_argument("--media-root", type=existing_dir,
                      help="folder the records' 'path' is relative to (default: the JSON's folder)")
    data.add_argument("--limit", type=int_at_least(1), help="first N records of each benchmark (smoke runs)")
    data.add_argument("--prompt-style", choices=PROMPT_STYLES, default=DEFAULT_PROMPT_STYLE,
                      help="videorft (default): VideoRFT's eval prompt (problem, options one a line); "
                           "video_r1: Video-R1's (problem + 'Options:' + options); both with the eval wording")
    data.add_argument("--training-prompt", action="store_true",
                      help="word the question as training does ('<think> </think>'), not as the released eval "
                           "scripts ('<think> and </think>'): for small models trained on that wording alone")
    data.add_argument("--frame-records", choices=FRAME_RECORD_MODES, default="frames",
                      help="MVBench data_type 'frame' records: frames (default: the folder read as a video) | "
                           "no_video (the released eval's behaviour: the text alone)")


def model_arguments(p: argparse.ArgumentParser) -> None:
    model = p.add_argument_group("model")
    model.add_argument("--model", type=model_path, help="checkpoint folder or name")
    model.add_argument("--model-name", help="label in the report (default: the model path's last part)")
    model.add_argument("--backend", choices=("hf", "vllm"), default="hf",
                       help="hf: transformers on CPU/GPU; vllm: vLLM offline engine on GPUs")
    model.add_argument("--batch-size", type=int_at_least(1), help="samples per generate call (default: hf 4, vllm 64)")
    model.add_argument("--prepare-workers", type=int_at_least(1), default=4, help="threads decoding videos (default 4)")
    model.add_argument("--device", help="hf: torch device (default: cuda if available)")
    model.add_argument("--dtype", default="auto", help="hf: auto | bfloat16 | float16 | float32")
    model.add_argument("--tensor-parallel-size", type=int_at_least(1), help="vllm: default all visible GPUs")
    model.add_argument("--max-model-len", type=int_at_least(1), default=8192,
                       help="vllm (default 8192, as the released eval)")
    model.add_argument("--gpu-memory-utilization", type=float_in(0, 1, low_open=True), default=0.8,
                       help="vllm (default 0.8)")
    ray_arguments(model, "the generation (an actor per GPU; vllm: per --tensor-parallel-size GPUs)")


def frame_arguments(p: argparse.ArgumentParser) -> None:
    video = p.add_argument_group("frames (default: the 'eval' profile, 32 frames at 256*28*28)")
    video.add_argument("--profile", type=frame_profile, default="eval",
                       help="named frame profile (verl_videorft.video.PROFILES)")
    video.add_argument("--nframes", type=int_at_least(1))
    video.add_argument("--min-pixels", type=int_at_least(1))
    video.add_argument("--max-pixels", type=int_at_least(1))
    video.add_argument("--no-fps", action="store_true", help="do not pass the sampled fps to the processor")
    control = video.add_mutually_exclusive_group()
    control.add_argument("--blank-frames", dest="frame_control", action="store_const", const="blank",
                         help="control: every frame black (what the question alone gets)")
    control.add_argument("--shuffle-frames", dest="frame_control", action="store_const", const="shuffle",
                         help="control: the frames in a random order, seeded per sample (what needs the order)")


def decoding_arguments(p: argparse.ArgumentParser) -> None:
    gen = p.add_argument_group("decoding (defaults: the released evaluation's)")
    gen.add_argument("--temperature", type=float_in(0, 100), default=0.1, help="0 = greedy (default 0.1)")
    gen.add_argument("--top-p", type=float_in(0, 1, low_open=True), default=0.001)
    gen.add_argument("--max-new-tokens", type=int_at_least(1), default=1024)
    gen.add_argument("--seed", type=int, default=0)


def output_arguments(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, help="output folder (resumes when it already has results)")
    out.add_argument("--retry-failed", action="store_true", help="redo samples that failed in an earlier run")
    out.add_argument("--report-only", action="store_true", help="only rebuild the report from results.jsonl")
    out.add_argument("--force", action="store_true", help="resume even if the settings differ from run_config.json")
    out.add_argument("--no-progress", action="store_true")


def settings_from(args: argparse.Namespace):
    """The :class:`~verl_videorft.evaluation.plan.EvalSettings` the arguments describe."""
    from verl_videorft.evaluation.backends import GenerationConfig
    from verl_videorft.evaluation.plan import EvalSettings, benchmark_files, eval_profile

    if args.backend == "hf":
        backend_kwargs = {"device": args.device, "dtype": args.dtype}
    else:
        backend_kwargs = {"max_model_len": args.max_model_len, "gpu_memory_utilization": args.gpu_memory_utilization}
        if args.tensor_parallel_size:
            backend_kwargs["tensor_parallel_size"] = args.tensor_parallel_size
    return EvalSettings(
        model=args.model, out=Path(args.out), files=benchmark_files(args.data_dir, args.bench_file, args.benchmarks),
        model_name=args.model_name, backend=args.backend, backend_kwargs=backend_kwargs,
        profile=eval_profile(args.profile, nframes=args.nframes, min_pixels=args.min_pixels,
                             max_pixels=args.max_pixels, pass_fps=not args.no_fps),
        generation=GenerationConfig(args.temperature, args.top_p, args.max_new_tokens, args.seed),
        prompt_style=args.prompt_style, frame_records=args.frame_records, media_root=args.media_root,
        training_prompt=args.training_prompt, frame_control=args.frame_control,
        limit=args.limit, batch_size=args.batch_size, prepare_workers=args.prepare_workers,
        retry_failed=args.retry_failed, force=args.force, progress=not args.no_progress, ray=ray_options(args))


def main(args: argparse.Namespace) -> int:
    """Run (or resume) the evaluation described by ``args``, then print the report."""
    from verl_videorft.evaluation.plan import evaluate, rebuild_report

    if args.report_only:
        print(rebuild_report(Path(args.out), args.model_name))
        return 0
    if not args.model:
        raise UsageError("--model is required (unless --report-only)")
    markdown, unreadable = evaluate(settings_from(args))
    print(markdown)
    for path, reason in unreadable.items():
        print(f"videorft eval: {path}: {reason} (benchmark skipped)", file=sys.stderr)
    return 1 if unreadable else 0
