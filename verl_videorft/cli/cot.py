"""``videorft cot build``: the paper's multi-expert CoT data pipeline (describe, reason, revise, filter).

    videorft cot build train.jsonl --media-root /data --out cot/ --engine hf --model /models/qwen25vl-7b
    videorft cot build train.jsonl --media-root /data --out cot/ \\
        --engine describe=vllm --model describe=/models/Qwen2.5-VL-72B-Instruct \\
        --engine reason=openai --model reason=deepseek-r1 --base-url reason=http://10.0.0.5:8000/v1 \\
        --engine revise=vllm --model revise=/models/Qwen2.5-VL-72B-Instruct --ray --ray-gpus 4

``--engine``, ``--model``, ``--base-url``, ``--max-new-tokens`` and ``--temperature`` take ``VALUE``
(every model stage) or ``STAGE=VALUE`` (one stage; repeat the flag). Rerunning the same command
resumes: finished records are skipped. The API key of ``openai`` engines is read from the
environment variable named by ``--api-key-env`` (default ``OPENAI_API_KEY``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from verl_videorft.cot.settings import (
    ENGINE_KINDS,
    MODEL_STAGES,
    STAGES,
    CotSettings,
    EngineSpec,
    FilterSettings,
    HttpSettings,
)


def per_stage(values: list[str] | None, name: str, cast=str) -> dict[str, object]:
    """``["hf", "reason=openai"]`` -> ``{"describe": "hf", "reason": "openai", "revise": "hf"}``
    (a ``STAGE=VALUE`` wins over a plain ``VALUE``, whatever their order).

    >>> per_stage(["reason=openai", "hf"], "engine")
    {'describe': 'hf', 'reason': 'openai', 'revise': 'hf'}
    """
    every: dict[str, object] = {}
    one: dict[str, object] = {}
    for value in values or []:
        stage, sep, rest = value.partition("=")
        target = one if sep and stage in STAGES else every
        text = rest if target is one else value
        try:
            cast_value = cast(text)
        except ValueError as err:
            raise ValueError(f"--{name} {value!r}: {err}") from None
        if target is one:
            one[stage] = cast_value
        else:
            every.update(dict.fromkeys(MODEL_STAGES, cast_value))
    return every | one


def engine_specs(args: argparse.Namespace) -> dict[str, EngineSpec]:
    kinds = {s: "hf" for s in MODEL_STAGES} | per_stage(args.engine, "engine")
    models, urls = per_stage(args.model, "model"), per_stage(args.base_url, "base-url")
    specs = {}
    for stage in MODEL_STAGES:
        if stage not in args.stages:
            continue
        if stage not in models:
            raise ValueError(f"no model for stage {stage!r}: give --model PATH (all stages) or --model {stage}=PATH")
        if kinds[stage] not in ENGINE_KINDS:
            raise ValueError(f"--engine {stage}={kinds[stage]}: expected one of {', '.join(ENGINE_KINDS)}")
        specs[stage] = EngineSpec(str(kinds[stage]), str(models[stage]), urls.get(stage))
    return specs


def settings_from(args: argparse.Namespace) -> CotSettings:
    base = CotSettings()
    tokens = per_stage(args.max_new_tokens, "max-new-tokens", int)
    temps = per_stage(args.temperature, "temperature", float)
    gen = {s: dataclasses.replace(g, max_new_tokens=int(tokens.get(s, g.max_new_tokens)),
                                  temperature=float(temps.get(s, g.temperature)))
           for s, g in base.gen.items()}
    http = HttpSettings(concurrency=args.concurrency, timeout_s=args.timeout, max_retries=args.max_retries,
                        api_key_env=args.api_key_env)
    filt = FilterSettings(min_text_accuracy=args.min_text_accuracy, min_semantic=args.min_semantic,
                          min_think_words=args.min_think_words, max_think_words=args.max_think_words,
                          semantic_encoder=args.semantic_encoder)
    return CotSettings(fps=args.fps, max_frames=args.max_frames, frame_pixels=args.frame_pixels,
                       max_attempts=args.max_attempts, batch_size=args.batch_size, chunk_size=args.chunk_size,
                       gen=gen, http=http, filter=filt)


def cmd_build(args: argparse.Namespace) -> int:
    from verl_videorft.cot.requests import AuthError
    from verl_videorft.cot.runner import CotJob, build
    from verl_videorft.cot.stats import summary_table

    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    job = CotJob(args.records, args.out, media_root=args.media_root, stages=args.stages,
                 engines=engine_specs(args), settings=settings_from(args), frame_cache_dir=args.frame_cache_dir,
                 progress=not args.quiet, ray=args.ray or bool(args.ray_address), ray_address=args.ray_address,
                 ray_workers=args.ray_workers, ray_gpus=args.ray_gpus, ray_cpus=args.ray_cpus)
    try:
        stats = build(job)
    except AuthError as err:
        print(f"videorft cot: authentication failed: {err}", file=sys.stderr)
        return 2
    print(summary_table(stats))
    print(f"wrote {job.out}/cot.jsonl ({stats['kept']} records) and {job.out}/stats.json")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("cot", help="build CoT SFT data: describe, reason, revise, filter",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cot_command", required=True)
    b = sub.add_parser("build", help="run the CoT stages on record files (resumable)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("records", nargs="+", help="record files (.json, .jsonl, .parquet)")
    b.add_argument("--media-root", help="folder the records' paths are relative to (default: each file's folder)")
    b.add_argument("--out", required=True, help="output folder (stage files, cot.jsonl, stats.json)")
    b.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ",".join(STAGES))
    e = b.add_argument_group("engines (VALUE or STAGE=VALUE, repeatable)")
    e.add_argument("--engine", action="append", help=f"one of {', '.join(ENGINE_KINDS)} (default hf)")
    e.add_argument("--model", action="append", help="local model folder (hf, vllm) or served model name (openai)")
    e.add_argument("--base-url", action="append", help="openai: endpoint base, e.g. http://127.0.0.1:8000/v1")
    e.add_argument("--max-new-tokens", action="append", help="per stage (defaults 1024, 2048, 2048)")
    e.add_argument("--temperature", action="append", help="per stage (defaults 0.2, 0.6, 0.2)")
    e.add_argument("--max-attempts", type=int, default=3, help="calls per record when a reply is invalid")
    e.add_argument("--batch-size", type=int, default=4, help="requests per engine call")
    h = b.add_argument_group("openai-compatible endpoints")
    h.add_argument("--concurrency", type=int, default=8, help="requests in flight per engine")
    h.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    h.add_argument("--max-retries", type=int, default=4, help="retries on 429/5xx/time-outs (exponential backoff)")
    h.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    f = b.add_argument_group("frames and filter")
    f.add_argument("--fps", type=float, default=1.0, help="frames per second of video (paper: 1)")
    f.add_argument("--max-frames", type=int, default=64, help="cap on frames per clip")
    f.add_argument("--frame-pixels", type=int, default=128 * 28 * 28, help="pixels per frame")
    f.add_argument("--frame-cache-dir", help="also keep decoded frames on disk (stages run in separate commands)")
    f.add_argument("--chunk-size", type=int, default=64, help="records taken through all stages together")
    f.add_argument("--min-text-accuracy", type=float, default=0.5, help="OCR / free-form accuracy to keep")
    f.add_argument("--min-semantic", type=float, default=0.1, help="semantic consistency with the frames to keep")
    f.add_argument("--min-think-words", type=int, default=20)
    f.add_argument("--max-think-words", type=int, default=700)
    f.add_argument("--semantic-encoder", help="encoder of the semantic check (default: the semantic reward's)")
    r = b.add_argument_group("Ray Data")
    r.add_argument("--ray", action="store_true", help="run the stages on Ray Data (a local Ray instance by default)")
    r.add_argument("--ray-address", help="join this Ray cluster (implies --ray)")
    r.add_argument("--ray-workers", type=int, default=1, help="workers (actors) per stage")
    r.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs per model-stage worker (hf, vllm)")
    r.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs per worker")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)
    return p
