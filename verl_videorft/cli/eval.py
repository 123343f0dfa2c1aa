"""``videorft eval``: run the paper's six benchmarks on a checkpoint, resumable, with a report.

    videorft eval --model Qwen/Qwen2.5-VL-7B-Instruct --data-dir Evaluation/ --backend vllm --out runs/q7b
    videorft eval --model ckpt/ --bench-file mmvu=my/eval_mmvu.json --media-root /videos --backend hf
    videorft eval --out runs/q7b --report-only          # rebuild report.md / scores.png from results

``--data-dir`` holds Video-R1's ``eval_<benchmark>.json`` files; ``path`` in each record is relative
to ``--media-root`` (default: the JSON file's folder). The output folder gets ``results.jsonl`` (one
line per sample, appended as it goes; rerunning the same command resumes), ``run_config.json``,
``summary.json``, ``report.md`` and ``scores.png``. Defaults are the paper's: 32 frames at 256·28·28
pixels, temperature 0.1, top_p 0.001, 1024 new tokens, the sampled fps passed to the processor.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from verl_videorft.evaluation.benchmarks import (
    BENCHMARKS,
    FRAME_RECORD_MODES,
    find_benchmark_files,
    load_benchmark,
    resolve_benchmark_key,
)
from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, PROMPT_STYLES

# Settings that change the numbers: a resumed run must use the same ones.
_PINNED = ("model", "backend", "profile", "generation", "prompt_style", "frame_records")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``eval`` command to a ``videorft`` subparsers object; sets ``func``."""
    p = subparsers.add_parser("eval", help="evaluate a checkpoint on VSI-Bench, VideoMMMU, MMVU, MVBench, "
                                           "TempCompass, VideoMME", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data-dir", help="folder with eval_<benchmark>.json files")
    data.add_argument("--bench-file", action="append", default=[], metavar="KEY=PATH",
                      help=f"an explicit benchmark file (repeatable); KEY in {list(BENCHMARKS)}")
    data.add_argument("--benchmarks", help="comma-separated subset (default: all found)")
    data.add_argument("--media-root", help="folder the records' 'path' is relative to (default: the JSON's folder)")
    data.add_argument("--limit", type=int, help="first N records of each benchmark (smoke runs)")
    data.add_argument("--prompt-style", choices=PROMPT_STYLES, default=DEFAULT_PROMPT_STYLE,
                      help="videorft (default): VideoRFT's eval prompt (problem, options one a line); "
                           "video_r1: Video-R1's (problem + 'Options:' + options); both with the eval wording")
    data.add_argument("--frame-records", choices=FRAME_RECORD_MODES, default="frames",
                      help="MVBench data_type 'frame' records: frames (default: the folder read as a video) | "
                           "no_video (the released eval's behaviour: the text alone)")
    model = p.add_argument_group("model")
    model.add_argument("--model", help="checkpoint folder or name")
    model.add_argument("--model-name", help="label in the report (default: the model path's last part)")
    model.add_argument("--backend", choices=("hf", "vllm"), default="hf",
                       help="hf: transformers on CPU/GPU; vllm: vLLM offline engine on GPUs")
    model.add_argument("--batch-size", type=int, help="samples per generate call (default: hf 4, vllm 64)")
    model.add_argument("--prepare-workers", type=int, default=4, help="threads decoding videos (default 4)")
    model.add_argument("--device", help="hf: torch device (default: cuda if available)")
    model.add_argument("--dtype", default="auto", help="hf: auto | bfloat16 | float16 | float32")
    model.add_argument("--tensor-parallel-size", type=int, help="vllm: default all visible GPUs")
    model.add_argument("--max-model-len", type=int, default=8192, help="vllm (default 8192, as the released eval)")
    model.add_argument("--gpu-memory-utilization", type=float, default=0.8, help="vllm (default 0.8)")
    video = p.add_argument_group("frames (default: the 'eval' profile, 32 frames at 256*28*28)")
    video.add_argument("--profile", default="eval", help="named frame profile (video.py)")
    video.add_argument("--nframes", type=int)
    video.add_argument("--min-pixels", type=int)
    video.add_argument("--max-pixels", type=int)
    video.add_argument("--no-fps", action="store_true", help="do not pass the sampled fps to the processor")
    gen = p.add_argument_group("decoding (defaults: the released evaluation's)")
    gen.add_argument("--temperature", type=float, default=0.1, help="0 = greedy (default 0.1)")
    gen.add_argument("--top-p", type=float, default=0.001)
    gen.add_argument("--max-new-tokens", type=int, default=1024)
    gen.add_argument("--seed", type=int, default=0)
    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, help="output folder (resumes when it already has results)")
    out.add_argument("--retry-failed", action="store_true", help="redo samples that failed in an earlier run")
    out.add_argument("--report-only", action="store_true", help="only rebuild the report from results.jsonl")
    out.add_argument("--force", action="store_true", help="resume even if the settings differ from run_config.json")
    out.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main)
    return p


def _profile(args: argparse.Namespace):
    from verl_videorft.video import resolve_profile

    base = resolve_profile(args.profile)
    over = {k: v for k, v in (("nframes", args.nframes), ("min_pixels", args.min_pixels),
                              ("max_pixels", args.max_pixels)) if v is not None}
    if args.no_fps:
        over["pass_fps"] = False
    return dataclasses.replace(base, **over)


def _benchmark_files(args: argparse.Namespace) -> dict[str, Path]:
    files: dict[str, Path] = {}
    keys = [resolve_benchmark_key(k) for k in args.benchmarks.split(",")] if args.benchmarks else None
    if args.data_dir:
        explicit = {resolve_benchmark_key(s.split("=", 1)[0]) for s in args.bench_file}
        wanted = [k for k in keys if k not in explicit] if keys else None
        if wanted is None or wanted:
            files.update(find_benchmark_files(args.data_dir, wanted))
    for spec in args.bench_file:
        if "=" not in spec:
            raise SystemExit(f"--bench-file expects KEY=PATH, got {spec!r}")
        key, path = spec.split("=", 1)
        if not Path(path).is_file():
            raise SystemExit(f"--bench-file {spec}: file not found")
        files[resolve_benchmark_key(key)] = Path(path)
    if keys:
        files = {k: v for k, v in files.items() if k in keys}
    if not files:
        raise SystemExit("no benchmark files: give --data-dir and/or --bench-file KEY=PATH")
    return files


def _check_config(out: Path, config: dict, force: bool) -> None:
    path = out / "run_config.json"
    if path.exists() and not force:
        old = json.loads(path.read_text())
        diff = [k for k in _PINNED if old.get(k) != config.get(k)]
        if diff:
            raise SystemExit(f"{path}: settings {diff} differ from the earlier run in this folder; use a new "
                             f"--out, or --force to mix them")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))


def write_report(out: Path, model_name: str) -> str:
    """Write summary.json, report.md and scores.png from ``out/results.jsonl``; return the markdown."""
    from verl_videorft.evaluation.report import bar_chart, markdown_report, summarize
    from verl_videorft.evaluation.runner import read_results

    summary = summarize(read_results(out / "results.jsonl"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    md = markdown_report(summary, model=model_name)
    (out / "report.md").write_text(md)
    bar_chart(summary, out / "scores.png", model=model_name)
    return md


def main(args: argparse.Namespace) -> int:
    """Run (or resume) the evaluation described by ``args``, then write the report."""
    from verl_videorft.evaluation.backends import GenerationConfig, make_backend
    from verl_videorft.evaluation.runner import run_eval

    out = Path(args.out)
    model_name = args.model_name or (Path(args.model).name if args.model else "this run")
    if args.report_only:
        if args.model_name is None and (out / "run_config.json").exists():
            model_name = json.loads((out / "run_config.json").read_text()).get("model_name", model_name)
        print(write_report(out, model_name))
        return 0
    if not args.model:
        raise SystemExit("--model is required (unless --report-only)")
    files = _benchmark_files(args)
    profile = _profile(args)
    gen = GenerationConfig(args.temperature, args.top_p, args.max_new_tokens, args.seed)
    config = {"model": args.model, "model_name": model_name, "backend": args.backend,
              "profile": profile.to_dict(), "generation": dataclasses.asdict(gen), "prompt_style": args.prompt_style,
              "frame_records": args.frame_records,
              "benchmarks": {k: str(v) for k, v in files.items()}, "media_root": args.media_root}
    _check_config(out, config, args.force)
    samples = [s for key, path in files.items()
               for s in load_benchmark(path, key, media_root=args.media_root, limit=args.limit,
                                         prompt_style=args.prompt_style, frame_records=args.frame_records)]
    if args.backend == "hf":
        kwargs = {"device": args.device, "dtype": args.dtype}
    else:
        kwargs = {"max_model_len": args.max_model_len, "gpu_memory_utilization": args.gpu_memory_utilization}
        if args.tensor_parallel_size:
            kwargs["tensor_parallel_size"] = args.tensor_parallel_size
    backend = make_backend(args.backend, args.model, profile=profile, gen=gen, **kwargs)
    batch_size = args.batch_size or (4 if args.backend == "hf" else 64)
    run_eval(samples, backend, out / "results.jsonl", batch_size=batch_size, retry_failed=args.retry_failed,
             progress=not args.no_progress, prepare_workers=args.prepare_workers)
    print(write_report(out, model_name))
    return 0


def _standalone(argv: list[str] | None = None) -> int:
    # `python -m verl_videorft.cli.eval ...` works before the lead wires `videorft eval`.
    parser = argparse.ArgumentParser(prog="videorft")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(_standalone())
