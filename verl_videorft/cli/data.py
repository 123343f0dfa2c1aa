"""``videorft data convert | validate | budget | precompute | sft``: argument parsing and printing.

    videorft data convert train.json -o train.parquet
    videorft data validate train.parquet --profile train --workers 4 --report bad.jsonl   # exit 1 if any bad
    videorft data budget train.jsonl --profile train --eval-profile eval --model qwen2.5-vl \\
        --max-prompt-length 4096 --tokenizer Qwen/Qwen2.5-VL-7B-Instruct
    videorft data precompute train.jsonl --frame-cache-dir /cache/frames \\
        [--semantic-model PATH --embedding-cache-dir /cache/emb]
    videorft data sft VideoRFT-CoT-102K.json -o sft.parquet --media-root /data/videos

Every record problem (malformed JSON, missing key, unknown problem type, missing / empty /
corrupt media, too few frames) is reported as ``file:line: reason``. The work is done by
:mod:`verl_videorft.data` (``convert``, ``validate``, ``budget``, ``precompute``, ``sft``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from verl_videorft.cli.args import (
    debug_parent,
    frame_profile,
    int_at_least,
    model_path,
    parquet_output,
    ray_arguments,
    ray_options,
    record_file,
)
from verl_videorft.data.budget import MODEL_MULTIPLE
from verl_videorft.errors import UsageError


def cmd_convert(args: argparse.Namespace) -> int:
    from verl_videorft.data.convert import convert_file
    from verl_videorft.data.outputs import check_output

    if args.output and len(args.inputs) > 1:
        raise UsageError("--output takes one input file; omit it to write <input>.parquet next to each")
    outputs = [args.output or str(Path(src).with_suffix(".parquet")) for src in args.inputs]
    for dst in outputs:  # all checked before any is written
        check_output(dst, args.inputs, args.force)
    for src, dst in zip(args.inputs, outputs):
        convert_file(src, dst, media_root=args.media_root, absolute_paths=args.absolute_paths, quiet=args.quiet,
                     force=args.force)
        print(f"{src} -> {dst}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from verl_videorft.data.outputs import atomic_output, check_output
    from verl_videorft.data.validate import validate_files
    from verl_videorft.video import resolve_profile

    if args.report:
        check_output(args.report, args.inputs, args.force)
    report = validate_files(args.inputs, resolve_profile(args.profile).to_dict(), media_root=args.media_root,
                            min_frames=args.min_frames, decode=not args.no_decode, workers=args.workers,
                            quiet=args.quiet, prompt_style=args.prompt_style)
    for w in report.warnings:
        print(f"{w['where']}: warning: {w['reason']}", file=sys.stderr)
    for p in report.problems:
        print(f"{p['where']}: {p['reason']}" + (f" [{p['media']}]" if "media" in p else ""))
    if args.report:
        with atomic_output(args.report) as tmp, open(tmp, "w") as f:
            f.writelines(json.dumps(p) + "\n" for p in report.problems)
    print(f"validated {report.records} records, {report.media} media files: {len(report.problems)} bad",
          file=sys.stderr)
    return 1 if report.problems else 0


def cmd_budget(args: argparse.Namespace) -> int:
    from verl_videorft.data.budget import budget_files, profile_warnings, text_counter
    from verl_videorft.video import resolve_profile

    train, evalp = resolve_profile(args.profile), resolve_profile(args.eval_profile)
    try:  # load the tokenizer before reading any record: a bad path fails at once
        count_text = text_counter(args.tokenizer)
    except (OSError, ValueError) as e:
        raise UsageError(f"--tokenizer {args.tokenizer}: cannot load a tokenizer ({str(e).splitlines()[0]})") from e
    report = budget_files(args.inputs, train, evalp, max_prompt_length=args.max_prompt_length,
                          eval_max_prompt_length=args.eval_max_prompt_length, media_root=args.media_root,
                          count_text=count_text, template_tokens=args.template_tokens, workers=args.workers,
                          quiet=args.quiet)
    for line in report.unreadable:
        print(f"{line} (not counted)", file=sys.stderr)
    for w in profile_warnings(train, evalp, args.model):
        print(f"WARNING: {w}", file=sys.stderr)
    for row in report.overlong:
        print(f"{row['where']}: {row[row['profile']]} prompt tokens with the {row['profile']} profile "
              f"> max_prompt_length {row['limit']}")
    estimated = " (text estimated as chars/4)" if args.tokenizer is None else ""
    for name in ("train", "eval") if report.rows else ():
        low, median, high = report.summary(name)
        print(f"{name} profile: prompt tokens min {low} median {median} max {high}{estimated}")
    print(f"{len(report.rows)} samples counted, {len(report.overlong)} over max_prompt_length, "
          f"{len(report.unreadable)} unreadable")
    return 1 if report.overlong else 0


def cmd_precompute(args: argparse.Namespace) -> int:
    from verl_videorft.data.precompute import expand_dir, precompute_embeddings, precompute_frames
    from verl_videorft.rewards.semantic import EMBEDDING_CACHE_ENV
    from verl_videorft.video import resolve_profile

    emb_dir = args.embedding_cache_dir or os.environ.get(EMBEDDING_CACHE_ENV)
    if args.semantic_model and not emb_dir:  # say so before minutes of decoding
        raise UsageError(f"--semantic-model needs --embedding-cache-dir (or env {EMBEDDING_CACHE_ENV}), the "
                         "folder training reads as reward.videorft.semantic.embedding_cache_dir")
    profile = resolve_profile(args.profile).to_dict()
    cache_dir = expand_dir(args.frame_cache_dir)
    ray = ray_options(args)
    media, errors = precompute_frames(args.inputs, profile, cache_dir, media_root=args.media_root,
                                      workers=args.workers, quiet=args.quiet, ray=ray)
    for path, err in errors.items():
        print(f"{path}: {err}", file=sys.stderr)
    print(f"frame cache: {len(media) - len(errors)} of {len(media)} media files in {cache_dir}")
    failed = len(errors)
    if args.semantic_model:
        emb_dir = expand_dir(emb_dir)
        counts = precompute_embeddings(
            [m for m in media if m not in errors], profile, cache_dir, emb_dir, encoder=args.semantic_model,
            backend=args.semantic_backend, device=args.semantic_device, quiet=args.quiet,
            on_error=lambda path, reason: print(f"{path}: {reason}", file=sys.stderr), ray=ray)
        print(f"semantic frame embeddings: {counts['encoded']} encoded, {counts['cached']} already cached, "
              f"{counts['failed']} failed, in {emb_dir}")
        failed += counts["failed"]
    return 1 if failed else 0


def cmd_sft(args: argparse.Namespace) -> int:
    from verl_videorft.data.outputs import check_output
    from verl_videorft.data.sft import convert_sft

    check_output(args.output, args.inputs, args.force)
    out = convert_sft(args.inputs, args.output, media_root=args.media_root, profile=args.profile, quiet=args.quiet,
                      prompt_style=args.prompt_style, workers=args.workers)
    print(f"{', '.join(args.inputs)} -> {out}")
    return 0


def _prompt_style(p: argparse.ArgumentParser, what: str) -> None:
    from verl_videorft.prompts import DEFAULT_PROMPT_STYLE, PROMPT_STYLES

    p.add_argument("--prompt-style", choices=PROMPT_STYLES, default=DEFAULT_PROMPT_STYLE,
                   help=f"= data.videorft.prompt_style: {what} (videorft: the problem alone; video_r1: options "
                        "appended)")


FORCE = {"action": "store_true", "help": "replace an existing output file (never an input)"}


def _common(p: argparse.ArgumentParser, workers: bool = True) -> None:
    p.add_argument("inputs", nargs="+", type=record_file, help="record files (.json, .jsonl, .parquet)")
    p.add_argument("--media-root", default=None, help="directory relative media paths join (default: each file's dir)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if workers:
        p.add_argument("--workers", type=int_at_least(1), default=min(4, os.cpu_count() or 1),
                       help="parallel worker processes")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` (with ``convert``, ``validate``, ``budget``, ``precompute``, ``sft``) to ``subparsers``."""
    data = subparsers.add_parser("data", help="dataset tools: convert, validate, budget, precompute, sft",
                                 description=__doc__.split("\n\n")[0])
    sub = data.add_subparsers(dest="data_command", required=True)
    for add in (_add_convert, _add_validate, _add_budget, _add_precompute, _add_sft):
        add(sub, [debug_parent()])
    return data


def _add_convert(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser("convert", help="JSON/JSONL -> parquet", parents=parents)
    _common(p, workers=False)
    p.add_argument("-o", "--output", type=parquet_output, default=None,
                   help="output .parquet (default: <input>.parquet)")
    p.add_argument("--absolute-paths", action="store_true", help="store absolute media paths")
    p.add_argument("--force", **FORCE)
    p.set_defaults(func=cmd_convert)


def _add_validate(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser("validate", help="check every record and its media; exit 1 if any is bad", parents=parents)
    _common(p)
    p.add_argument("--profile", type=frame_profile, default="train", help="frame profile used to decode (name)")
    p.add_argument("--min-frames", type=int_at_least(1), default=2, help="fewest frames a video may have")
    p.add_argument("--no-decode", action="store_true", help="only check that media files exist and are non-empty")
    p.add_argument("--report", default=None, help="write the bad records as JSONL here")
    p.add_argument("--force", **FORCE)
    _prompt_style(p, "warn, naming file:line, for multiple-choice records whose options this style's prompt "
                     "does not show")
    p.set_defaults(func=cmd_validate)


def _add_budget(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser("budget", help="prompt tokens per sample vs max_prompt_length", parents=parents)
    _common(p)
    p.add_argument("--profile", type=frame_profile, default="train", help="training frame profile")
    p.add_argument("--eval-profile", type=frame_profile, default="eval", help="evaluation frame profile")
    p.add_argument("--model", choices=sorted(MODEL_MULTIPLE), default="qwen2.5-vl")
    p.add_argument("--max-prompt-length", type=int_at_least(1), default=4096)
    p.add_argument("--eval-max-prompt-length", type=int_at_least(1), default=None,
                   help="limit for the eval profile (default: --max-prompt-length)")
    p.add_argument("--tokenizer", type=model_path, default=None,
                   help="tokenizer path for exact text tokens (else chars/4)")
    p.add_argument("--template-tokens", type=int_at_least(0), default=30,
                   help="chat-template tokens around the question")
    p.set_defaults(func=cmd_budget)


def _add_precompute(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser("precompute", help="fill the on-disk frame cache (and semantic frame embeddings)",
                       parents=parents)
    _common(p)
    p.add_argument("--profile", type=frame_profile, default="train")
    p.add_argument("--frame-cache-dir", required=True, help="= data.videorft.frame_cache_dir in training")
    p.add_argument("--semantic-model", type=model_path, default=None,
                   help="also fill the semantic reward's frame-embedding cache with this encoder "
                        "(= reward.videorft.semantic.encoder)")
    p.add_argument("--embedding-cache-dir", default=None,
                   help="= reward.videorft.semantic.embedding_cache_dir (default: env "
                        "VIDEORFT_EMBEDDING_CACHE_DIR)")
    p.add_argument("--semantic-backend", default="auto", choices=("auto", "hf", "sentence-transformers"),
                   help="= reward.videorft.semantic.backend")
    p.add_argument("--semantic-device", default="auto", help="cpu | cuda | auto")
    ray_arguments(p, "the decoding (CPU actors, instead of --workers) and the encoding (an actor per GPU)")
    p.set_defaults(func=cmd_precompute)


def _add_sft(sub: argparse._SubParsersAction, parents: list) -> None:
    p = sub.add_parser("sft", help="CoT records (process + solution) -> parquet for verl's sft_trainer",
                       parents=parents)
    _common(p)
    p.add_argument("-o", "--output", type=parquet_output, required=True, help="output .parquet")
    p.add_argument("--profile", type=frame_profile, default="train", help="frame profile stored with each video")
    p.add_argument("--force", **FORCE)
    _prompt_style(p, "the question and system prompt written into the SFT data")
    p.set_defaults(func=cmd_sft)


def main(argv: list[str] | None = None) -> int:
    """``videorft`` with ``argv`` (kept for callers that import this module)."""
    from verl_videorft.cli import main as cli_main

    return cli_main(argv)
