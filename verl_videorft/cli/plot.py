"""``videorft plot``: training curves from verl's metric log (the ``file`` logger's JSONL).

    videorft plot demo_run/metrics.jsonl --out curves.png                  # reward components
    videorft plot run.jsonl --metrics rollout loss --out health.png        # presets
    videorft plot run.jsonl --metrics 'reward/*/mean' actor/kl_loss --out mine.png --list

Run verl with ``trainer.logger=[console,file]`` and ``VERL_FILE_LOGGER_PATH=run.jsonl`` (or find the
file under ``<project>/<experiment>.jsonl``). ``--metrics`` takes metric names, ``fnmatch`` globs or
presets (rewards, rollout, loss, timing; default: rewards).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verl_videorft.curves import PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``plot`` command to a ``videorft`` subparsers object; sets ``func``."""
    p = subparsers.add_parser("plot", help="plot training curves from verl's metric log", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", type=Path, help="verl file-logger JSONL (one {step, data} line per step)")
    p.add_argument("--metrics", nargs="+", default=["rewards"],
                   help=f"metric names, globs or presets {sorted(PRESETS)} (default: rewards)")
    p.add_argument("--out", type=Path, help="PNG to write (default: <log>.png)")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--list", action="store_true", help="print the selected metrics' last values")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from verl_videorft.curves import plot_metrics, read_metrics, select_keys, series

    if not args.log.is_file():
        print(f"videorft plot: {args.log}: file not found", file=sys.stderr)
        return 2
    rows = read_metrics(args.log)
    keys = select_keys(rows, args.metrics)
    if not keys:
        print(f"videorft plot: {args.log}: no numeric metric matches {args.metrics} ({len(rows)} steps)",
              file=sys.stderr)
        return 1
    out = plot_metrics(rows, keys, args.out or args.log.with_suffix(".png"), title=args.title)
    if args.list:
        for key in keys:
            steps, values = series(rows, key)
            print(f"{key:<48} steps {steps[0]}..{steps[-1]}  last {values[-1]:.4g}")
    print(f"{out}: {len(keys)} metric(s) over {len(rows)} step(s)")
    return 0
