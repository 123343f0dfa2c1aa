"""``videorft data convert | validate | budget | precompute``: dataset tools (argparse, tqdm, parallel workers).

    videorft data convert train.json -o train.parquet
    videorft data validate train.parquet --profile train --workers 4 --report bad.jsonl   # exit 1 if any bad
    videorft data budget train.jsonl --profile train --eval-profile eval --model qwen2.5-vl \\
        --max-prompt-length 4096 --tokenizer Qwen/Qwen2.5-VL-7B-Instruct
    videorft data precompute train.jsonl --frame-cache-dir /cache/frames \
        [--semantic-model PATH --embedding-cache-dir /cache/emb]
    videorft data sft VideoRFT-CoT-102K.json -o sft.parquet --media-root /data/videos

Every record problem (malformed JSON, missing key, unknown problem type, missing / empty /
corrupt media, too few frames) is reported as ``file:line: reason``. The lead wires
:func:`add_parser` into ``verl_videorft.cli``; ``python -m verl_videorft.cli.data`` works too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_videorft.prompts import RecordError

# record columns written by `convert` (VideoRFT / Video-R1 keys); other keys go to `extra` as JSON
COLUMNS = ("problem_id", "problem", "data_type", "problem_type", "options", "solution", "process", "path",
           "data_source")
MODEL_MULTIPLE = {"qwen2.5-vl": 28, "qwen2-vl": 28, "qwen3-vl": 32}


def progress(it, **kw):
    from tqdm.auto import tqdm

    return tqdm(it, disable=kw.pop("quiet", False) or None, dynamic_ncols=True, **kw)


@dataclass
class Item:
    """One record as the tools see it: where it is, and either the record or why it is unusable."""

    where: str
    record: dict[str, Any] | None
    media: str | None = None
    error: str | None = None


def iter_items(files: list[str], media_root: str | None = None) -> Iterator[Item]:
    """Every record of every file, checked (keys, problem type) and with its absolute media path."""
    from verl_videorft.data.dataset import check_record, resolve_media_path
    from verl_videorft.data.records import RecordFile

    for file in files:
        rf = RecordFile(file)
        root = os.path.abspath(media_root) if media_root else os.path.dirname(rf.path)
        for i in range(len(rf)):
            where = rf.where(i)
            try:
                rec = rf[i]
            except RecordError as e:
                yield Item(where, None, error=str(e).removeprefix(where + ": "))
                continue
            try:
                check_record(rec)
            except RecordError as e:
                yield Item(where, rec, error=str(e))
                continue
            yield Item(where, rec, media=resolve_media_path(rec["path"], root))


# ---- convert ----------------------------------------------------------------------------------
def _normalise(rec: dict[str, Any], media: str | None, absolute: bool) -> dict[str, Any]:
    row = {k: rec.get(k) for k in COLUMNS}
    row["problem_id"] = None if row["problem_id"] is None else str(row["problem_id"])
    row["options"] = [str(o) for o in row["options"]] if isinstance(row["options"], list) else None
    for k in COLUMNS:
        if k not in ("options",) and row[k] is not None and not isinstance(row[k], str):
            row[k] = json.dumps(row[k])
    if absolute and media:
        row["path"] = media
    extra = {k: v for k, v in rec.items() if k not in COLUMNS}
    row["extra"] = json.dumps(extra) if extra else None
    return row


def convert_file(src: str | Path, dst: str | Path, *, media_root: str | None = None, absolute_paths: bool = False,
                 batch_size: int = 20000, quiet: bool = True) -> Path:
    """JSON / JSONL → parquet with the record columns (streamed in batches of ``batch_size``).

    Bad records are skipped and printed to stderr as ``file:line: reason`` (``validate`` gives the
    full report). Returns ``dst``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(k, pa.list_(pa.string()) if k == "options" else pa.string()) for k in COLUMNS]
                       + [("extra", pa.string())])
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    bad = 0
    with pq.ParquetWriter(str(dst), schema) as writer:
        batch: list[dict] = []
        for item in progress(iter_items([str(src)], media_root), desc=f"convert {Path(src).name}", unit="rec",
                          quiet=quiet):
            if item.error:
                bad += 1
                print(f"{item.where}: {item.error} (skipped)", file=sys.stderr)
                continue
            batch.append(_normalise(item.record, item.media, absolute_paths))
            if len(batch) >= batch_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return dst


def cmd_convert(args: argparse.Namespace) -> int:
    inputs = args.inputs
    if args.output and len(inputs) > 1:
        print("--output takes one input file; omit it to write <input>.parquet next to each", file=sys.stderr)
        return 2
    for src in inputs:
        dst = args.output or str(Path(src).with_suffix(".parquet"))
        convert_file(src, dst, media_root=args.media_root, absolute_paths=args.absolute_paths, quiet=args.quiet)
        print(f"{src} -> {dst}")
    return 0


# ---- media checks (run in worker processes) ---------------------------------------------------
def _init_worker(cache_dir: str | None, cache_mb: float | None) -> None:
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    if cache_dir or cache_mb:
        from verl_videorft.video import configure_frame_cache

        kw: dict[str, Any] = {}
        if cache_mb:
            kw["max_bytes"] = int(cache_mb * 2**20)
        if cache_dir:
            kw["disk_dir"] = cache_dir
        configure_frame_cache(**kw)


def check_media(task: tuple[str, dict, int, bool]) -> tuple[str, str | None, dict[str, Any]]:
    """Decode one media file with a profile: ``(path, error or None, info)``; never raises."""
    path, profile, min_frames, use_cache = task
    from verl_videorft.video import VideoDecodeError, sample_frames

    try:
        frames, meta = sample_frames(path, profile, cache=use_cache)
    except VideoDecodeError as e:
        return path, e.reason, {}
    except Exception as e:  # noqa: BLE001 - a validator reports, it does not crash
        return path, f"{type(e).__name__}: {e}", {}
    info = {"frames": int(frames.shape[0]), "height": int(frames.shape[1]), "width": int(frames.shape[2]),
            "total_frames": int(meta.get("total_frames", 0)), "rotation": int(meta.get("rotation", 0)),
            "fps": meta.get("fps")}
    if frames.ndim != 4 or frames.shape[-1] != 3:
        return path, f"frames have shape {tuple(frames.shape)}, expected [T, H, W, 3]", info
    if meta.get("rotation", 0) not in (0, 90, 180, 270):
        return path, f"unsupported rotation {meta['rotation']} degrees", info
    from verl_videorft.video import IMAGE_EXTENSIONS

    if os.path.splitext(path)[1].lower() not in IMAGE_EXTENSIONS and info["total_frames"] < min_frames:
        return path, f"only {info['total_frames']} frames (need at least {min_frames})", info
    return path, None, info


def _run_parallel(fn, tasks: list, workers: int, desc: str, quiet: bool, initargs=(None, None)) -> Iterator:
    if workers <= 1 or len(tasks) <= 1:
        _init_worker(*initargs)
        yield from progress(map(fn, tasks), total=len(tasks), desc=desc, quiet=quiet)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=initargs) as ex:
        yield from progress(ex.map(fn, tasks, chunksize=4), total=len(tasks), desc=desc, quiet=quiet)


def _where_key(problem: dict) -> tuple[str, int]:
    """Sort ``file:line`` / ``file row N`` by file, then numerically by line."""
    where = problem["where"]
    head, _, num = where.rpartition(":") if " row " not in where else where.rpartition(" row ")
    return (head, int(num)) if num.isdigit() else (where, 0)


def cmd_validate(args: argparse.Namespace) -> int:
    from verl_videorft.video import resolve_profile

    profile = resolve_profile(args.profile).to_dict()
    problems: list[dict[str, Any]] = []
    by_media: dict[str, list[Item]] = {}
    n = 0
    for item in progress(iter_items(args.inputs, args.media_root), desc="read records", unit="rec", quiet=args.quiet):
        n += 1
        if item.error:
            problems.append({"where": item.where, "reason": item.error})
        else:
            by_media.setdefault(item.media, []).append(item)
    if not args.no_decode:
        tasks = [(m, profile, args.min_frames, False) for m in by_media]
        for path, err, _info in _run_parallel(check_media, tasks, args.workers, "decode media", args.quiet):
            if err:
                for item in by_media[path]:
                    problems.append({"where": item.where, "media": path, "reason": err})
    else:
        for path, items in by_media.items():
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                reason = "media file not found" if not os.path.exists(path) else "media file is empty or not a file"
                problems.extend({"where": it.where, "media": path, "reason": reason} for it in items)
    problems.sort(key=_where_key)
    for p in problems:
        print(f"{p['where']}: {p['reason']}" + (f" [{p['media']}]" if "media" in p else ""))
    if args.report:
        with open(args.report, "w") as f:
            for p in problems:
                f.write(json.dumps(p) + "\n")
    print(f"validated {n} records, {len(by_media)} media files: {len(problems)} bad", file=sys.stderr)
    return 1 if problems else 0


# ---- budget -----------------------------------------------------------------------------------
def probe_media(path: str) -> tuple[str, str | None, dict[str, int]]:
    """``(path, error, {"height", "width", "frames"})`` as displayed (rotation applied), without decoding all frames."""
    from verl_videorft.video import IMAGE_EXTENSIONS

    try:
        if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
            from PIL import Image

            with Image.open(path) as im:
                return path, None, {"height": im.height, "width": im.width, "frames": 1}
        from verl_videorft.video.readers import probe_video

        info = probe_video(path)
        return path, None, {"height": info["height"], "width": info["width"], "frames": max(info["frames"], 1)}
    except Exception as e:  # noqa: BLE001
        return path, f"{type(e).__name__}: {e}", {}


def vision_tokens(height: int, width: int, frames: int, profile, data_type: str = "video") -> int:
    """Vision tokens of one sample (Qwen-VL: merge 2×2 patches; a video's frames pair up in time).

    >>> from verl_videorft.video import PROFILES
    >>> vision_tokens(360, 640, 300, PROFILES["train"])   # 16 frames → 8 temporal groups × (224/28 × 420/28)
    960
    """
    from verl_videorft.video import target_size, uniform_indices

    h, w = target_size(height, width, profile)
    per_frame = (h // profile.size_multiple) * (w // profile.size_multiple)
    if data_type == "image":
        return per_frame
    t = len(uniform_indices(frames, profile.nframes))
    return (t // 2) * per_frame


def cmd_budget(args: argparse.Namespace) -> int:
    from verl_videorft.prompts import build_question
    from verl_videorft.video import resolve_profile

    train, evalp = resolve_profile(args.profile), resolve_profile(args.eval_profile)
    multiple = MODEL_MULTIPLE[args.model]
    warnings = []
    for name, prof in (("train", train), ("eval", evalp)):
        if prof.size_multiple != multiple:
            warnings.append(f"{name} profile has size_multiple {prof.size_multiple}, but {args.model} needs {multiple}")
    diff = {k: (v, evalp.to_dict()[k]) for k, v in train.to_dict().items() if evalp.to_dict()[k] != v}
    if diff:
        warnings.append("train and eval frame profiles differ: "
                        + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in diff.items())
                        + " (reported numbers depend on both; state them)")
    tokenizer = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    items = [it for it in iter_items(args.inputs, args.media_root)]
    media = sorted({it.media for it in items if it.media})
    probes = {p: (err, info) for p, err, info in _run_parallel(probe_media, media, args.workers, "probe media",
                                                               args.quiet)}
    overlong, totals, bad = [], [], 0
    for it in items:
        if it.error or probes[it.media][0]:
            bad += 1
            print(f"{it.where}: {it.error or probes[it.media][0]} (not counted)", file=sys.stderr)
            continue
        info = probes[it.media][1]
        dtype = it.record.get("data_type", "video")
        q = build_question(it.record)
        text = len(tokenizer(q)["input_ids"]) if tokenizer else (len(q) + 3) // 4
        text += args.template_tokens
        row = {"where": it.where, "text": text}
        for name, prof in (("train", train), ("eval", evalp)):
            row[name] = text + vision_tokens(info["height"], info["width"], info["frames"], prof, dtype)
        totals.append(row)
        if row["train"] > args.max_prompt_length:
            overlong.append(row)
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    for row in overlong:
        print(f"{row['where']}: {row['train']} prompt tokens > max_prompt_length {args.max_prompt_length}")
    if totals:
        for name in ("train", "eval"):
            vals = sorted(r[name] for r in totals)
            print(f"{name} profile: prompt tokens min {vals[0]} median {vals[len(vals) // 2]} max {vals[-1]}"
                  f"{' (text estimated as chars/4)' if tokenizer is None else ''}")
    print(f"{len(totals)} samples counted, {len(overlong)} over max_prompt_length={args.max_prompt_length}, "
          f"{bad} unreadable")
    return 1 if overlong else 0


# ---- precompute -------------------------------------------------------------------------------
def cmd_precompute(args: argparse.Namespace) -> int:
    from verl_videorft.rewards.semantic import EMBEDDING_CACHE_ENV
    from verl_videorft.video import resolve_profile

    emb_dir = args.embedding_cache_dir or os.environ.get(EMBEDDING_CACHE_ENV)
    if args.semantic_model and not emb_dir:  # say so before minutes of decoding
        print(f"--semantic-model needs --embedding-cache-dir (or env {EMBEDDING_CACHE_ENV}), "
              "the folder training reads as reward.videorft.semantic.embedding_cache_dir",
              file=sys.stderr)
        return 2
    profile = resolve_profile(args.profile).to_dict()
    media = sorted({it.media for it in iter_items(args.inputs, args.media_root) if it.media})
    tasks = [(m, profile, 1, True) for m in media]
    failed = 0
    bad: set[str] = set()
    cache_dir = os.path.abspath(os.path.expanduser(args.frame_cache_dir))
    for path, err, _ in _run_parallel(check_media, tasks, args.workers, "frame cache", args.quiet,
                                      initargs=(cache_dir, 64)):
        if err:
            failed += 1
            bad.add(path)
            print(f"{path}: {err}", file=sys.stderr)
    print(f"frame cache: {len(media) - failed} of {len(media)} media files in {cache_dir}")
    if args.semantic_model:
        failed += _precompute_embeddings(args, [m for m in media if m not in bad], profile, cache_dir,
                                         os.path.abspath(os.path.expanduser(emb_dir)))
    return 1 if failed else 0


def _precompute_embeddings(args: argparse.Namespace, media: list[str], profile: dict,
                           frame_cache_dir: str, emb_dir: str) -> int:
    """Fill the semantic reward's frame-embedding disk cache (one encoder, in this process: the
    workers only decode); returns the number of failures."""
    from verl_videorft.rewards.semantic import SemanticConfig, precompute_frame_embeddings
    from verl_videorft.video import configure_frame_cache

    configure_frame_cache(disk_dir=frame_cache_dir)  # frames come from the cache filled above
    config = SemanticConfig(encoder=args.semantic_model, backend=args.semantic_backend,
                            device=args.semantic_device, embedding_cache_dir=emb_dir)
    counts = precompute_frame_embeddings(
        progress(media, desc="frame embeddings", unit="video", quiet=args.quiet), config, profile,
        on_error=lambda path, reason: print(f"{path}: {reason}", file=sys.stderr))
    print(f"semantic frame embeddings: {counts['encoded']} encoded, {counts['cached']} already cached, "
          f"{counts['failed']} failed, in {emb_dir}")
    return counts["failed"]


# ---- sft ----------------------------------------------------------------------------------------
def cmd_sft(args: argparse.Namespace) -> int:
    from verl_videorft.data.sft import convert_sft

    out = convert_sft(args.inputs, args.output, media_root=args.media_root, profile=args.profile, quiet=args.quiet)
    print(f"{', '.join(args.inputs)} -> {out}")
    return 0


# ---- argparse ---------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, workers: bool = True) -> None:
    p.add_argument("inputs", nargs="+", help="record files (.json, .jsonl, .parquet)")
    p.add_argument("--media-root", default=None, help="directory relative media paths join (default: each file's dir)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if workers:
        p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel worker processes")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``data`` (with ``convert``, ``validate``, ``budget``, ``precompute``, ``sft``) to ``subparsers``."""
    data = subparsers.add_parser("data", help="dataset tools: convert, validate, budget, precompute, sft",
                                 description=__doc__.split("\n\n")[0])
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("convert", help="JSON/JSONL -> parquet")
    _common(p, workers=False)
    p.add_argument("-o", "--output", default=None, help="output .parquet (default: <input>.parquet)")
    p.add_argument("--absolute-paths", action="store_true", help="store absolute media paths")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("validate", help="check every record and its media; exit 1 if any is bad")
    _common(p)
    p.add_argument("--profile", default="train", help="frame profile used to decode (name)")
    p.add_argument("--min-frames", type=int, default=2, help="fewest frames a video may have")
    p.add_argument("--no-decode", action="store_true", help="only check that media files exist and are non-empty")
    p.add_argument("--report", default=None, help="write the bad records as JSONL here")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("budget", help="prompt tokens per sample vs max_prompt_length")
    _common(p)
    p.add_argument("--profile", default="train", help="training frame profile")
    p.add_argument("--eval-profile", default="eval", help="evaluation frame profile")
    p.add_argument("--model", choices=sorted(MODEL_MULTIPLE), default="qwen2.5-vl")
    p.add_argument("--max-prompt-length", type=int, default=4096)
    p.add_argument("--tokenizer", default=None, help="tokenizer path for exact text tokens (else chars/4)")
    p.add_argument("--template-tokens", type=int, default=30, help="chat-template tokens around the question")
    p.set_defaults(func=cmd_budget)

    p = sub.add_parser("precompute", help="fill the on-disk frame cache (and semantic frame embeddings)")
    _common(p)
    p.add_argument("--profile", default="train")
    p.add_argument("--frame-cache-dir", required=True, help="= data.videorft.frame_cache_dir in training")
    p.add_argument("--semantic-model", default=None,
                   help="also fill the semantic reward's frame-embedding cache with this encoder "
                        "(= reward.videorft.semantic.encoder)")
    p.add_argument("--embedding-cache-dir", default=None,
                   help="= reward.videorft.semantic.embedding_cache_dir (default: env "
                        "VIDEORFT_EMBEDDING_CACHE_DIR)")
    p.add_argument("--semantic-backend", default="auto", choices=("auto", "hf", "sentence-transformers"),
                   help="= reward.videorft.semantic.backend")
    p.add_argument("--semantic-device", default="auto", help="cpu | cuda | auto")
    p.set_defaults(func=cmd_precompute)

    p = sub.add_parser("sft", help="CoT records (process + solution) -> parquet for verl's sft_trainer")
    _common(p, workers=False)
    p.add_argument("-o", "--output", required=True, help="output .parquet")
    p.add_argument("--profile", default="train", help="frame profile stored with each video")
    p.set_defaults(func=cmd_sft)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videorft")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
