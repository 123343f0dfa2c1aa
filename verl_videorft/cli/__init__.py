"""The ``videorft`` command line.

    videorft doctor                         registrations (fresh process + Ray worker), versions
    videorft data convert|validate|budget|precompute ...
    videorft eval ...                       the paper's six video benchmarks

Sub-commands live next to what they drive; each module exposes ``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import sys

from verl_videorft import __version__


def build_parser() -> argparse.ArgumentParser:
    from verl_videorft.cli import cot as cot_cli
    from verl_videorft.cli import data as data_cli
    from verl_videorft.cli import doctor
    from verl_videorft.cli import eval as eval_cli

    parser = argparse.ArgumentParser(prog="videorft", description="VideoRFT training tools for verl")
    parser.add_argument("--version", action="version", version=f"verl-videorft {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    doctor.add_parser(subparsers)
    cot_cli.add_parser(subparsers)
    data_cli.add_parser(subparsers)
    eval_cli.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
