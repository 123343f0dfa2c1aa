"""``videorft encoder``: fit the semantic reward's image-text encoder to your own clips and captions.

    videorft encoder train --encoder google/siglip-so400m-patch14-384 --captions train.jsonl \\
        --out models/siglip-mine --held-out val.jsonl
    videorft encoder auc --encoder models/siglip-mine --captions val.jsonl

A captions file is JSON Lines (or a JSON array) of ``{"path": clip, "caption": text}``; training
records that carry a ``caption`` work as they are. Frames are sampled with the rollout's frame
profile (``--profile``), so the encoder learns on what the reward will see. ``auc`` is the chance
that a clip's own caption scores above another clip's caption (0.5: the reward measures noise).
Then train with ``reward.videorft.semantic.encoder=<out>``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verl_videorft.errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``encoder`` command (``train``, ``auc``) to a ``videorft`` subparsers object."""
    p = subparsers.add_parser("encoder", help="train / check the semantic reward's encoder on your captions",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="encoder_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--encoder", required=True, help="SigLIP / CLIP model folder or name")
    common.add_argument("--captions", type=Path, required=True, help="JSONL/JSON of {path, caption}")
    common.add_argument("--media-root", type=Path, help="folder relative paths start from (default: the file's)")
    common.add_argument("--profile", default="train", help="frame profile of the rollout (default: train)")
    t = sub.add_parser("train", parents=[common], help="SigLIP-loss fine-tuning; writes --out")
    t.add_argument("--out", type=Path, required=True, help="model folder to write")
    t.add_argument("--held-out", type=Path, help="captions file to report the AUC on, before and after")
    t.add_argument("--steps", type=int, default=200)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--force", action="store_true", help="replace an existing --out")
    t.set_defaults(func=run_train)
    a = sub.add_parser("auc", parents=[common], help="matching vs mismatching captions AUC")
    a.set_defaults(func=run_auc)
    return p


def _pairs(path: Path, media_root: Path | None) -> list:
    from verl_videorft.rewards.contrastive import read_caption_pairs

    if not path.is_file():
        raise UsageError(f"{path}: captions file not found")
    pairs = read_caption_pairs(path, media_root)
    if len(pairs) < 2:
        raise UsageError(f"{path}: {len(pairs)} caption pair(s); the contrastive loss needs at least 2")
    return pairs


def run_train(args: argparse.Namespace) -> int:
    from verl_videorft.rewards.contrastive import caption_auc, train_encoder

    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out}: already exists (give --force to replace it)")
    if Path(args.encoder).exists() and args.out.resolve() == Path(args.encoder).resolve():
        raise UsageError(f"{args.out}: is the input encoder; give another output path")
    pairs = _pairs(args.captions, args.media_root)
    held_out = _pairs(args.held_out, args.media_root) if args.held_out else None
    before = caption_auc(args.encoder, held_out, profile=args.profile) if held_out else None
    stats = train_encoder(args.encoder, pairs, args.out, profile=args.profile, steps=args.steps,
                          batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    if held_out:
        stats |= {"auc_before": before, "auc": caption_auc(args.out, held_out, profile=args.profile)}
    print(json.dumps({"out": str(args.out), "pairs": len(pairs), **stats}))
    return 0


def run_auc(args: argparse.Namespace) -> int:
    from verl_videorft.rewards.contrastive import caption_auc

    pairs = _pairs(args.captions, args.media_root)
    print(json.dumps({"encoder": str(args.encoder), "pairs": len(pairs),
                      "auc": caption_auc(args.encoder, pairs, profile=args.profile)}))
    return 0
