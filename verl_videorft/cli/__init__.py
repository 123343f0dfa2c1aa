"""The ``videorft`` command line: argument parsing and printing only.

    videorft doctor                         registrations (fresh process + Ray worker), versions, decoders
    videorft data convert|validate|budget|precompute|sft ...
    videorft eval ...                       the paper's six video benchmarks
    videorft demo ...                       the pipeline in miniature on a CPU
    videorft plot LOG ...                   training curves from verl's metric log
    videorft export CKPT OUT                a verl checkpoint -> a Hugging Face model folder
    videorft encoder train|auc ...          the semantic reward's encoder on your own captions

Each sub-command module exposes ``add_parser(subparsers)``; the work is done by the library
(:mod:`verl_videorft.data`, :mod:`verl_videorft.doctor`, :mod:`verl_videorft.evaluation`).

Errors are one line on stderr: exit code 2 for a usage error (a bad argument, an output that
would overwrite data), 1 for bad data; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

from verl_videorft import __version__
from verl_videorft.cli.args import Parser
from verl_videorft.errors import UsageError


def build_parser() -> Parser:
    from verl_videorft.cli import cot as cot_cli
    from verl_videorft.cli import data as data_cli
    from verl_videorft.cli import demo as demo_cli
    from verl_videorft.cli import doctor
    from verl_videorft.cli import encoder as encoder_cli
    from verl_videorft.cli import eval as eval_cli
    from verl_videorft.cli import export as export_cli
    from verl_videorft.cli import plot as plot_cli

    parser = Parser(prog="videorft", description="VideoRFT training tools for verl")
    parser.add_argument("--version", action="version", version=f"verl-videorft {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    subparsers = parser.add_subparsers(dest="command", required=True)
    doctor.add_parser(subparsers)
    cot_cli.add_parser(subparsers)
    data_cli.add_parser(subparsers)
    eval_cli.add_parser(subparsers)
    demo_cli.add_parser(subparsers)
    plot_cli.add_parser(subparsers)
    export_cli.add_parser(subparsers)
    encoder_cli.add_parser(subparsers)
    return parser


def exit_code(exc: BaseException) -> int:
    """2 for usage errors (arguments, outputs that would destroy data, a busy folder), 1 for the rest."""
    return 2 if isinstance(exc, UsageError) else 1


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line; the type is added for errors that are not the project's own
    (theirs may not say what failed: ``KeyError: 'x'``)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if is_ours(exc) else f"{type(exc).__name__}: {text}"


def is_ours(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("verl_videorft")


def main(argv: list[str] | None = None) -> int:
    """Run ``videorft argv``; return the exit code (argument errors included: they are printed, not raised)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a one-line usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("videorft: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        hint = "" if is_ours(exc) else " (--debug shows the traceback)"
        print(f"videorft: error: {one_line(exc)}{hint}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
