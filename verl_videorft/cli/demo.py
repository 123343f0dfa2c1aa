"""``videorft demo`` / ``python -m verl_videorft.demo``: argument parsing and printing only.

    python -m verl_videorft.demo --workdir demo_run          # the whole pipeline, report in demo_run/
    python -m verl_videorft.demo --grpo-only --steps 2 --workdir DIR [--train-file F --val-file F --media-root DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from verl_videorft.demo.process import DEFAULT_TIMEOUT_S


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--workdir", type=Path, default=Path("demo_run"), help="output folder (default demo_run)")
    p.add_argument("--grpo-only", action="store_true",
                   help="skip everything but GRPO, from a fresh tiny model (a quick wiring check)")
    p.add_argument("--steps", type=int, default=None,
                   help="GRPO steps (default: 2 with --grpo-only, else the pipeline's setting)")
    p.add_argument("--train-file", type=Path, help="training records (default: the generated demo set)")
    p.add_argument("--val-file", type=Path, help="validation records (default: the generated demo set)")
    p.add_argument("--media-root", type=Path, help="folder the records' 'path' is relative to "
                                                    "(default: the record file's folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tgrpo", action="store_true",
                   help="T-GRPO variant (Video-R1's temporal contrast, +recipe=videorft_tgrpo)")
    p.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="hard limit per trainer run, seconds")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for main_ppo")
    return p


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo`` command to a ``videorft`` subparsers object; sets ``func``."""
    p = subparsers.add_parser("demo", help="VideoRFT's pipeline in miniature on a CPU", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def run_grpo_only(args: argparse.Namespace) -> int:
    from verl_videorft.demo import grpo

    workdir = args.workdir.resolve()
    steps = args.steps or 2
    t0 = time.monotonic()
    inputs = grpo.prepare_inputs(workdir, args.seed, train_file=args.train_file, val_file=args.val_file)
    print(f"[videorft demo] data and tiny models ready in {time.monotonic() - t0:.1f} s under {workdir}")
    overrides = grpo.trainer_overrides(inputs, workdir, steps, media_root=args.media_root) + list(args.overrides)
    if args.tgrpo:
        from verl_videorft.demo.tgrpo import with_tgrpo

        overrides = with_tgrpo(overrides)
    result = grpo.run_trainer(overrides, workdir, args.timeout)
    print(grpo.summarize(workdir))
    if args.tgrpo:
        from verl_videorft.demo.tgrpo import step_lines

        print(step_lines(grpo.read_metrics(workdir)))
    print(f"[videorft demo] trainer exit code {result.returncode}; total {time.monotonic() - t0:.0f} s; "
          f"log: {workdir / 'train.log'}")
    return int(result.returncode != 0 or len(grpo.read_metrics(workdir)) < steps or not grpo.checkpoints(workdir))


def run_full(args: argparse.Namespace) -> int:
    import dataclasses

    from verl_videorft.demo.pipeline import StageError, run_pipeline
    from verl_videorft.demo.settings import DemoSettings

    if args.train_file or args.val_file or args.media_root or args.overrides:
        print("videorft demo: --train-file/--val-file/--media-root and Hydra overrides go with --grpo-only "
              "(the full pipeline generates its own tasks)", file=sys.stderr)
        return 2
    s = DemoSettings(seed=args.seed)
    if args.steps:
        s = dataclasses.replace(s, grpo=dataclasses.replace(s.grpo, steps=args.steps))
    workdir = args.workdir.resolve()
    try:
        report = run_pipeline(workdir, s, tgrpo=args.tgrpo)
    except StageError as e:
        print(f"videorft demo: {e}", file=sys.stderr)
        return 1
    print((workdir / "report.md").read_text())
    print(f"[videorft demo] {report['wall_s']:.0f} s; report: {workdir / 'report.md'}, {workdir / 'report.json'}")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_grpo_only(args) if args.grpo_only else run_full(args)


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m verl_videorft.demo",
                                                   description=__doc__.splitlines()[0]))
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))
